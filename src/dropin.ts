import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { CollectorError, CollectorErrors } from './errors.ts';
import { loadConfigSources, type LoadedConfig } from './config/load.ts';

/**
 * ebpf_exporter drop-in mode: its command line becomes a generated pipeline —
 * one `ebpf/<name>` receiver per name reading DIR/<name>.bpf.o with
 * DIR/<name>.yaml, and one prometheus exporter — which then goes through the
 * same validation and graph as any other config.
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
    },
    service: { pipelines: { metrics: { receivers: Object.keys(receivers), exporters: ['prometheus'] } } },
  };
  return loadConfigSources([{ file: DROPIN_SOURCE, text: stringify(config) }], env);
}

function escapeDollar(s: string): string {
  return s.replace(/\$/g, '$$$$');
}
