import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CollectorError, CollectorErrors } from '../../errors.ts';
import { loadConfigFiles } from '../../config/load.ts';
import { validate } from '../../config/validate.ts';
import type { EbpfReceiverConfig } from './config.ts';
import { exporterFileSchema, type MetricsConfig } from './metrics.ts';

/** Where a receiver's object and metric definitions come from, resolved before start. */
export interface ResolvedProgram {
  /** Config name as ebpf_exporter names it: the object's basename without `.bpf.o`. */
  readonly name: string;
  readonly objectPath: string;
  readonly metrics: MetricsConfig;
  readonly kaddrs: readonly string[];
  /** Where the definitions came from ('inline' or a file path). */
  readonly metricsSource: string;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Directory of built objects: $EBPF_COLLECTOR_BPF_DIR or <repo>/build/bpf. */
export function objectDir(): string {
  return process.env['EBPF_COLLECTOR_BPF_DIR'] ?? join(repoRoot, 'build', 'bpf');
}

/** Directory of shipped metric definitions (<repo>/bpf). */
export function definitionsDir(): string {
  return join(repoRoot, 'bpf');
}

function isPath(program: string): boolean {
  return program.includes('/') || program.endsWith('.o');
}

/**
 * Resolve `program`, `metrics` / `metrics_file` of one receiver. Problems come
 * back as CollectorErrors with positions inside the metrics file when it is one.
 */
export async function resolveProgram(
  config: EbpfReceiverConfig,
  configDir: string,
): Promise<{ program?: ResolvedProgram; errors: CollectorError[] }> {
  const objectPath = isPath(config.program)
    ? isAbsolute(config.program)
      ? config.program
      : resolve(configDir, config.program)
    : join(objectDir(), `${config.program}.bpf.o`);
  const name = basename(objectPath).replace(/(\.bpf)?\.o$/, '');
  if (config.metrics && config.metrics_file) {
    return {
      errors: [
        new CollectorError('ERR_CONFIG_VALUE', 'give either metrics or metrics_file, not both', {
          path: 'metrics_file',
        }),
      ],
    };
  }
  if (config.metrics) {
    return {
      program: { name, objectPath, metrics: config.metrics, kaddrs: [], metricsSource: 'inline' },
      errors: [],
    };
  }
  let file: string;
  if (config.metrics_file) {
    file = isAbsolute(config.metrics_file) ? config.metrics_file : resolve(configDir, config.metrics_file);
  } else if (isPath(config.program)) {
    file = objectPath.replace(/(\.bpf)?\.o$/, '.yaml');
  } else {
    file = join(definitionsDir(), `${config.program}.yaml`);
  }
  if (!existsSync(file)) {
    return {
      errors: [
        new CollectorError(
          'ERR_EBPF_METRICS_FILE',
          `no metric definitions: ${file} does not exist; give metrics: inline or metrics_file:`,
          {
            path: config.metrics_file ? 'metrics_file' : 'program',
          },
        ),
      ],
    };
  }
  let loaded;
  try {
    loaded = await loadConfigFiles([file]);
  } catch (err) {
    if (err instanceof CollectorErrors) return { errors: [...err.errors] };
    throw err;
  }
  const { value, errors } = validate(exporterFileSchema, loaded, []);
  if (!value) return { errors };
  if (!value.metrics) {
    return { errors: [new CollectorError('ERR_EBPF_METRICS_FILE', `${file}: has no metrics: block`)] };
  }
  return {
    program: { name, objectPath, metrics: value.metrics, kaddrs: value.kaddrs ?? [], metricsSource: file },
    errors,
  };
}
