import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { CollectorError, CollectorErrors } from './errors.ts';
import { loadConfigSources, type LoadedConfig } from './config/load.ts';
import { hasSpans, spansExportFromEnv, type SpansExport } from './dropin-spans.ts';

/**
 * ebpf_exporter drop-in mode: its command line becomes a generated pipeline —
 * one `ebpf/<name>` receiver per name reading DIR/<name>.bpf.o with
 * DIR/<name>.yaml, and one prometheus exporter — which then goes through the
 * same validation and graph as any other config. Configs with `tracing.spans` also
 * feed a traces pipeline to the OTLP exporter the OTEL_* environment describes
 * (dropin-spans.ts).
 */
export interface DropInFlags {
  readonly dir: string;
  readonly names: readonly string[];
  readonly listenAddress: string;
  readonly telemetryPath: string;
  readonly strict: boolean;
  readonly btfPath?: string | undefined;
  /** `--web.config.file` (exporter-toolkit's web configuration). */
  readonly webConfigFile?: string | undefined;
}

export const DROPIN_SOURCE = '<ebpf_exporter flags>';

export function dropInConfig(flags: DropInFlags, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const names = flags.names.map((n) => n.trim()).filter((n) => n.length > 0);
  if (names.length === 0) {
    throw new CollectorErrors([
      new CollectorError('ERR_CONFIG_VALUE', '--config.names: give at least one config name', {
        path: '--config.names',
      }),
    ]);
  }
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) {
    throw new CollectorErrors([
      new CollectorError('ERR_CONFIG_VALUE', `--config.names: config "${dup}" is given twice`, {
        path: '--config.names',
      }),
    ]);
  }
  const dir = flags.dir.replace(/\/+$/, '') || '/';
  const receivers: Record<string, unknown> = {};
  for (const name of names) {
    receivers[`ebpf/${name}`] = {
      program: escapeDollar(`${dir}/${name}.bpf.o`),
      metrics_file: escapeDollar(`${dir}/${name}.yaml`),
      strict: flags.strict,
      ...(flags.btfPath ? { btf_path: escapeDollar(flags.btfPath) } : {}),
    };
  }
  const spanNames = names.filter((n) => hasSpans(`${dir}/${n}.yaml`));
  let spans: SpansExport = {};
  try {
    if (spanNames.length > 0) spans = spansExportFromEnv(env);
  } catch (err) {
    throw err instanceof CollectorError ? new CollectorErrors([err]) : err;
  }
  const out = spans.exporter;
  const config = {
    receivers,
    exporters: {
      prometheus: {
        endpoint: escapeDollar(flags.listenAddress),
        metrics_path: escapeDollar(flags.telemetryPath),
        // ebpf_exporter writes a counter under its name as configured, `_total` or not.
        add_metric_suffixes: false,
        ...(flags.webConfigFile ? { web_config_file: escapeDollar(resolve(flags.webConfigFile)) } : {}),
      },
      ...(out ? { [out.type]: escapeDeep(out.config) } : {}),
    },
    service: {
      pipelines: {
        metrics: { receivers: Object.keys(receivers), exporters: ['prometheus'] },
        ...(out ? { traces: { receivers: spanNames.map((n) => `ebpf/${n}`), exporters: [out.type] } } : {}),
      },
    },
  };
  const loaded = loadConfigSources([{ file: DROPIN_SOURCE, text: stringify(config) }], env);
  if (!spans.unsent) return loaded;
  const warning = new CollectorError(
    'ERR_DROPIN_SPANS_UNSENT',
    `${spanNames.join(', ')}: tracing.spans are read and counted but not sent (${spans.unsent}); set OTEL_TRACES_EXPORTER=otlp and OTEL_EXPORTER_OTLP_ENDPOINT to send them`,
    { path: 'OTEL_TRACES_EXPORTER' },
  );
  return { ...loaded, warnings: [warning] };
}

function escapeDollar(s: string): string {
  return s.replace(/\$/g, '$$$$');
}

function escapeDeep(v: unknown): unknown {
  if (typeof v === 'string') return escapeDollar(v);
  if (Array.isArray(v)) return v.map(escapeDeep);
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, escapeDeep(x)]));
  return v;
}
