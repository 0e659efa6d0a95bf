import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CollectorError, CollectorErrors, type Position } from '../../errors.ts';
import { loadConfigSources, type LoadedConfig } from '../../config/load.ts';
import { validate } from '../../config/validate.ts';
import { MAX_OBJECT_BYTES, namedFileProblem, readNamedFileSync } from '../../config/files.ts';
import { clip, cut } from '../../errors.ts';
import type { CgroupIdMapConfig } from './cgroup-id-map.ts';
import type { EbpfReceiverConfig } from './config.ts';
import { exporterFileSchema, type LogConfig, type SpanConfig } from './file-schema.ts';
import type { MetricsConfig } from './metrics.ts';

/** Where a receiver's object and metric definitions come from, resolved before start. */
export interface ResolvedProgram {
  /** Config name as ebpf_exporter names it: the object's basename without `.bpf.o`. */
  readonly name: string;
  readonly objectPath: string;
  readonly metrics: MetricsConfig;
  readonly kaddrs: readonly string[];
  /** ebpf_exporter's `tracing.spans` and our `logs` (event streams). */
  readonly spans: readonly SpanConfig[];
  readonly logs: readonly LogConfig[];
  /** ebpf_exporter's `cgroup_id_map`: a map the receiver keeps filled with matching cgroups. */
  readonly cgroupIdMap?: CgroupIdMapConfig | undefined;
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

/** Program names as ebpf_exporter's `--config.names` gives them: no path, no leading dot. */
const PROGRAM_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;

/**
 * Why `program:` cannot name a BPF object, or undefined: a name must be a plain name, a path
 * must end in `.o`; an object that exists must be a regular ELF file of at most
 * MAX_OBJECT_BYTES (a FIFO, a device or /etc/passwd is refused here, at the config's line,
 * rather than by libbpf or a hang). A missing object is left to the load (ERR_BPF_OPEN).
 */
export function objectProblem(program: string, objectPath: string): string | undefined {
  const shown = clip(program);
  if (!isPath(program) && !PROGRAM_NAME.test(program))
    return `${shown} is not a program name (letters, digits, _ . + -) nor a path to a .o object`;
  if (isPath(program) && !program.endsWith('.o'))
    return `${shown} is not a BPF object path: give a program name (e.g. timers) or the path of a .bpf.o`;
  const problem = namedFileProblem(objectPath, MAX_OBJECT_BYTES);
  if (problem?.includes('(ENOENT)')) return undefined;
  if (problem !== undefined) return `${cut(objectPath)} ${problem}`;
  if (!isElf(objectPath))
    return `${cut(objectPath)} is not an ELF object file (a .bpf.o built by clang -target bpf)`;
  return undefined;
}

function isElf(path: string): boolean {
  const head = readNamedFileSync(path, MAX_OBJECT_BYTES, 4);
  return typeof head !== 'string' && head.length === 4 && head.readUInt32BE(0) === 0x7f454c46;
}

/** Where the receiver's own keys were written, for errors about them (config-time checks). */
export interface ReceiverKeys {
  /** `receivers.<id>` */
  readonly path?: string;
  positionOf?(key: 'program' | 'metrics_file' | 'btf_path'): Position | undefined;
  positionAt?(path: readonly (string | number)[]): Position | undefined;
}

/**
 * Resolve `program`, `metrics` / `metrics_file` of one receiver. Problems come back as
 * CollectorErrors with positions inside the metrics file when it is one, and at the
 * receiver's `metrics_file` (or `program`) when `keys` says where those were written.
 * Synchronous so config loading can run it (small files, read once).
 */
export function resolveProgramSync(
  config: EbpfReceiverConfig,
  configDir: string,
  keys: ReceiverKeys = {},
): { program?: ResolvedProgram; errors: CollectorError[] } {
  const at = (key: 'program' | 'metrics_file'): { position?: Position | undefined; path: string } => ({
    position: keys.positionOf?.(key),
    path: keys.path === undefined ? key : `${keys.path}.${key}`,
  });
  const objectPath = isPath(config.program)
    ? isAbsolute(config.program)
      ? config.program
      : resolve(configDir, config.program)
    : join(objectDir(), `${config.program}.bpf.o`);
  const name = basename(objectPath).replace(/(\.bpf)?\.o$/, '');
  const objectIssue = objectProblem(config.program, objectPath);
  if (objectIssue !== undefined)
    return { errors: [new CollectorError('ERR_EBPF_OBJECT', objectIssue, at('program'))] };
  if (config.metrics && config.metrics_file) {
    return {
      errors: [
        new CollectorError(
          'ERR_CONFIG_VALUE',
          'give either metrics or metrics_file, not both',
          at('metrics_file'),
        ),
      ],
    };
  }
  if (config.metrics || config.tracing || config.logs) {
    return {
      program: {
        name,
        objectPath,
        metrics: config.metrics ?? {},
        kaddrs: [],
        spans: config.tracing?.spans ?? [],
        logs: config.logs ?? [],
        metricsSource: 'inline',
      },
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
  const where = at(config.metrics_file ? 'metrics_file' : 'program');
  // Bounded: a regular file of at most 1 MiB (a FIFO or /dev/zero is an error, not a hang).
  const data = readNamedFileSync(file);
  if (typeof data === 'string') {
    return {
      errors: [
        new CollectorError(
          'ERR_EBPF_METRICS_FILE',
          `no metric definitions: ${cut(file)} ${data.includes('(ENOENT)') ? 'does not exist; give metrics: inline or a metrics_file: that exists' : data}`,
          where,
        ),
      ],
    };
  }
  const text = data.toString('utf8');
  let loaded: LoadedConfig;
  try {
    loaded = loadConfigSources([{ file: shownPath(file), text }]);
  } catch (err) {
    if (err instanceof CollectorErrors) return { errors: [...err.errors] };
    throw err;
  }
  const { value, errors } = validate(exporterFileSchema, loaded, []);
  if (!value) return { errors };
  if (!value.metrics && !value.tracing && !value.logs) {
    return {
      errors: [
        new CollectorError(
          'ERR_EBPF_METRICS_FILE',
          `no metric definitions: ${cut(file)} has no metrics:, tracing: or logs: block`,
          {
            position: loaded.positionOf([]),
          },
        ),
      ],
    };
  }
  return {
    program: {
      name,
      objectPath,
      metrics: value.metrics ?? {},
      kaddrs: value.kaddrs ?? [],
      spans: value.tracing?.spans ?? [],
      logs: value.logs ?? [],
      cgroupIdMap: value.cgroup_id_map,
      metricsSource: file,
    },
    errors,
  };
}

/** Relative to the working directory when inside it (as the user would type it), else absolute. */
function shownPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? file : rel;
}
