import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { CollectorError, CollectorErrors, cut } from './errors.ts';
import { loadConfigSources, type ConfigPath, type LoadedConfig } from './config/load.ts';
import { hasSpans, spansExportFromEnv, type SpansExport } from './dropin-spans.ts';
import { agentConfigFrom, type AgentConfig } from './service.ts';

/**
 * ebpf_exporter drop-in mode: its command line becomes a generated pipeline —
 * one `ebpf/<name>` receiver per name reading DIR/<name>.bpf.o with
 * DIR/<name>.yaml, and one prometheus exporter — which then goes through the
 * same validation and graph as any other config. Configs with `tracing.spans` also
 * feed a traces pipeline to the OTLP exporter the OTEL_* environment describes
 * (dropin-spans.ts). A problem found in the generated pipeline is reported against
 * the flag that produced it.
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
  /** --config.skip-cache-size as given: keys whose label set a decoder dropped, remembered per metric (0: off). */
  readonly skipCacheSize?: string | undefined;
  /** --debug: serve /maps. */
  readonly debug?: boolean | undefined;
}

export const DROPIN_SOURCE = '<ebpf_exporter flags>';

/** systemd's first passed socket (sd_listen_fds(3): SD_LISTEN_FDS_START). */
const LISTEN_FDS_START = 3;

/** The checked agent config of these flags; every problem names its flag. */
export function dropInAgentConfig(flags: DropInFlags, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const { loaded, flagAt } = generate(flags, env);
  try {
    const config = agentConfigFrom(loaded);
    const place = config.place;
    // After load too (--config.check, start): the flag, never a made-up position.
    return place ? { ...config, place: (e) => onFlag(place(e), flagAt) } : config;
  } catch (err) {
    if (!(err instanceof CollectorErrors)) throw err;
    // A bad name is reported where the receiver is defined and where the pipeline lists it: once is enough.
    const seen = new Set<string>();
    const errors = err.errors
      .map((e) => onFlag(e, flagAt))
      .filter((e) => !seen.has(e.format()) && Boolean(seen.add(e.format())));
    throw new CollectorErrors(errors);
  }
}

/** The generated pipeline, before its components are checked (dropin-spans tests). */
export function dropInConfig(flags: DropInFlags, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  return generate(flags, env).loaded;
}

interface FlagRef {
  readonly flag: string;
  /** The config name the line belongs to, when it is per config. */
  readonly name?: string;
}

function generate(
  flags: DropInFlags,
  env: NodeJS.ProcessEnv,
): { loaded: LoadedConfig; flagAt: Map<number, FlagRef> } {
  const names = flags.names.map((n) => n.trim()).filter((n) => n.length > 0);
  const problems: CollectorError[] = [];
  const flagError = (flag: string, message: string, code = 'ERR_CONFIG_VALUE'): void => {
    problems.push(new CollectorError(code, message, { path: flag }));
  };
  if (names.length === 0) flagError('--config.names', 'give at least one config name');
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) flagError('--config.names', `config "${cut(dup)}" is given twice`);
  const dir = flags.dir.replace(/\/+$/, '') || '/';
  if (!isDirectory(dir)) {
    flagError('--config.dir', `${dir} is not a directory`, 'ERR_CONFIG_READ');
  } else {
    for (const name of names.filter((n) => !n.includes('/'))) {
      const missing = [`${dir}/${name}.yaml`, `${dir}/${name}.bpf.o`].filter((f) => !existsSync(f));
      if (missing.length > 0)
        flagError(
          '--config.dir',
          `config "${cut(name)}": ${missing.map(cut).join(' and ')} ${missing.length > 1 ? 'do' : 'does'} not exist`,
          'ERR_CONFIG_READ',
        );
    }
  }
  for (const name of names.filter((n) => n.includes('/')))
    flagError('--config.names', `config "${cut(name)}": a name is a file name in --config.dir, without "/"`);
  if (flags.btfPath && !existsSync(flags.btfPath))
    flagError('--btf.path', `${flags.btfPath} does not exist`, 'ERR_CONFIG_READ');
  const listen = listenOf(flags.listenAddress, env);
  if (typeof listen === 'string') flagError('--web.listen-address', listen);
  const skipCacheSize = (flags.skipCacheSize ?? '0').trim();
  if (!/^\d{1,9}$/.test(skipCacheSize))
    flagError(
      '--config.skip-cache-size',
      `expected a whole number of entries (0: off), got "${flags.skipCacheSize ?? ''}"`,
    );
  if (problems.length > 0) throw new CollectorErrors(problems);

  const receivers: Record<string, unknown> = {};
  for (const name of names) {
    receivers[`ebpf/${name}`] = {
      program: escapeDollar(`${dir}/${name}.bpf.o`),
      metrics_file: escapeDollar(`${dir}/${name}.yaml`),
      strict: flags.strict,
      ...(flags.btfPath ? { btf_path: escapeDollar(flags.btfPath) } : {}),
      ...(Number(skipCacheSize) > 0 ? { skip_cache_size: Number(skipCacheSize) } : {}),
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
  const listenConfig =
    typeof listen === 'object' && listen.fd !== undefined
      ? { listen_fd: listen.fd }
      : { endpoint: escapeDollar(flags.listenAddress) };
  const config = {
    receivers,
    exporters: {
      prometheus: {
        ...listenConfig,
        metrics_path: escapeDollar(flags.telemetryPath),
        // ebpf_exporter writes a counter under its name as configured, `_total` or not.
        add_metric_suffixes: false,
        ...(flags.webConfigFile ? { web_config_file: escapeDollar(resolve(flags.webConfigFile)) } : {}),
        ...(flags.debug ? { maps_endpoint: true } : {}),
      },
      ...(out ? { [out.type]: escapeDeep(out.config) } : {}),
    },
    service: {
      pipelines: {
        metrics: { receivers: Object.keys(receivers), exporters: ['prometheus'] },
        ...(out ? { traces: { receivers: spanNames.map((n) => `ebpf/${n}`), exporters: [out.type] } } : {}),
      },
      // Every self-metric ebpf_exporter has stays on /metrics under its name (run statistics too).
      telemetry: { metrics: { level: 'detailed' } },
    },
  };
  const generated = loadConfigSources([{ file: DROPIN_SOURCE, text: stringify(config) }], env);
  const loaded: LoadedConfig = spans.unsent
    ? {
        ...generated,
        warnings: [
          new CollectorError(
            'ERR_DROPIN_SPANS_UNSENT',
            `${spanNames.join(', ')}: tracing.spans are read and counted but not sent (${spans.unsent}); set OTEL_TRACES_EXPORTER=otlp and OTEL_EXPORTER_OTLP_ENDPOINT to send them`,
            { path: 'OTEL_TRACES_EXPORTER' },
          ),
        ],
      }
    : generated;

  // Every generated line → the flag it came from.
  const flagAt = new Map<number, FlagRef>();
  const note = (path: ConfigPath, ref: FlagRef, which: 'key' | 'value' = 'value'): void => {
    const line = loaded.positionOf(path, which)?.line;
    if (line !== undefined) flagAt.set(line, ref);
  };
  names.forEach((name, i) => {
    const id = `ebpf/${name}`;
    note(['receivers', id], { flag: '--config.names', name }, 'key');
    note(['service', 'pipelines', 'metrics', 'receivers', i], { flag: '--config.names', name });
    note(['receivers', id, 'program'], { flag: '--config.dir', name });
    note(['receivers', id, 'metrics_file'], { flag: '--config.dir', name });
    note(['receivers', id, 'strict'], { flag: '--config.strict' });
    note(['receivers', id, 'btf_path'], { flag: '--btf.path' });
    note(['receivers', id, 'skip_cache_size'], { flag: '--config.skip-cache-size' });
  });
  note(['exporters', 'prometheus', 'endpoint'], { flag: '--web.listen-address' });
  note(['exporters', 'prometheus', 'listen_fd'], { flag: '--web.listen-address' });
  note(['exporters', 'prometheus', 'metrics_path'], { flag: '--web.telemetry-path' });
  note(['exporters', 'prometheus', 'maps_endpoint'], { flag: '--debug' });
  return { loaded, flagAt };
}

/**
 * A problem positioned in the generated pipeline, reported against its flag:
 * `--web.listen-address: expected an address …`. Problems in real files (a
 * config's <name>.yaml) keep their file:line:col.
 */
function onFlag(e: CollectorError, flagAt: ReadonlyMap<number, FlagRef>): CollectorError {
  if (e.position?.file !== DROPIN_SOURCE) return e;
  const ref = flagAt.get(e.position.line);
  if (!ref) return e;
  // The generated key path means nothing to a user of the flags; the hint about pipeline keys neither.
  const message = e.message.replace(/; give metrics: inline or a metrics_file: that exists$/, '');
  return new CollectorError(
    e.code,
    ref.name !== undefined ? `config "${cut(ref.name)}": ${message}` : message,
    {
      path: ref.flag,
      details: e.details,
      cause: e,
    },
  );
}

/** `host:port` as given, or systemd's `fd://N` (the Nth socket passed, fd 3+N); a string is the problem. */
function listenOf(address: string, env: NodeJS.ProcessEnv): { fd?: number } | string {
  if (!address.startsWith('fd://')) return {};
  const text = address.slice('fd://'.length);
  if (!/^\d+$/.test(text)) return `expected fd://N with N a socket index (0 is the first), got "${address}"`;
  const index = Number(text);
  // sd_listen_fds(3): the sockets are for the process whose pid is LISTEN_PID.
  const pid = env['LISTEN_PID'];
  const count = Number(env['LISTEN_FDS'] ?? '0');
  if (pid === undefined || Number(pid) !== process.pid || !(count > 0)) {
    return `${address}: no sockets were passed by socket activation (LISTEN_PID=${pid ?? 'unset'}, LISTEN_FDS=${env['LISTEN_FDS'] ?? 'unset'}; this process is ${process.pid})`;
  }
  if (index >= count) {
    return `${address}: socket activation passed ${count} socket${count === 1 ? '' : 's'} (fd://0${count > 1 ? `..fd://${count - 1}` : ''})`;
  }
  return { fd: LISTEN_FDS_START + index };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
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
