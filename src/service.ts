import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { ProgramCheck } from './pipeline/component.ts';
import { CollectorError, CollectorErrors } from './errors.ts';
import { loadConfigFiles, type LoadedConfig } from './config/load.ts';
import { parseServiceConfig, type LogLevel, type ServiceConfig } from './config/service.ts';
import { encodeTelemetry } from './config/telemetry.ts';
import { encodeConfig, type EncodeOptions } from './config/types.ts';
import { validateComponentConfig } from './config/validate.ts';
import { listOf, suggestion } from './config/describe.ts';
import { configChecks, factories } from './components.ts';
import {
  checkExtensions,
  encodeExtensions,
  startExtensions,
  type ExtensionConfig,
  type RunningExtensions,
} from './extensions/index.ts';
import { postAttachMark, tuneMalloc } from './native/index.ts';
import { settleMemory } from './memory.ts';
import { SelfMetricsServer } from './exporters/prometheus/self-server.ts';
import { deriveCapabilities, type CapabilityPlan } from './caps/derive.ts';
import { checkCapabilities, dropAfterAttach, type KeepSetting } from './caps/runtime.ts';
import type { ReloadSummary } from './pipeline/reload.ts';
import {
  Agent,
  pipelineTypeError,
  signalOf,
  typeOf,
  type ComponentConfigs,
  type PipelineSpec,
} from './pipeline/graph.ts';

/**
 * From config files to a running agent: load and merge the YAML, check the
 * service shape and references, check every used component's config against
 * its factory's schema — every problem at once, with positions.
 */
export interface AgentConfig {
  readonly files: readonly string[];
  readonly pipelines: readonly PipelineSpec[];
  readonly components: ComponentConfigs;
  readonly logLevel: LogLevel;
  readonly warnings: readonly CollectorError[];
  /** The merged, expanded source (for print-config). */
  readonly loaded: LoadedConfig;
  /** The checked `service:` section, defaults applied. */
  readonly service: ServiceConfig['service'];
  /**
   * A problem found after the config loaded (validate --load, start) with the position of
   * the config key its path names (`receivers.<id>.program` → file:line:col); drop-in mode
   * names the flag instead. Unchanged when it has a position or no such path.
   */
  readonly place?: (e: CollectorError) => CollectorError;
  /** The extensions `service.extensions` enables, checked, in its order (src/extensions). */
  readonly extensions?: ReadonlyMap<string, ExtensionConfig>;
}

/** `receivers.<id>.<key…>` → the position of that key's value (or the nearest existing parent's). */
function placeByPath(e: CollectorError, loaded: LoadedConfig, components: ComponentConfigs): CollectorError {
  if (e.position !== undefined || e.path === undefined) return e;
  for (const section of ['receivers', 'processors', 'exporters'] as const) {
    for (const id of components[section].keys()) {
      const base = `${section}.${id}`;
      if (e.path !== base && !e.path.startsWith(`${base}.`)) continue;
      const rest = e.path
        .slice(base.length + 1)
        .split('.')
        .filter(Boolean);
      for (let n = rest.length; n >= 0; n--) {
        const path = [section, id, ...rest.slice(0, n)];
        const position =
          loaded.positionOf(path, n === rest.length ? 'value' : 'key') ?? loaded.positionOf(path);
        if (position)
          return new CollectorError(e.code, e.message, {
            position,
            path: e.path,
            details: e.details,
            cause: e,
          });
      }
    }
  }
  return e;
}

/** Every CollectorError in `err` placed by `config.place`. */
export function placed(err: unknown, config: AgentConfig): unknown {
  const place = config.place;
  if (!place) return err;
  if (err instanceof CollectorErrors) return new CollectorErrors(err.errors.map(place));
  if (err instanceof CollectorError) return place(err);
  return err;
}

type Section = 'receivers' | 'processors' | 'exporters';

export interface ConfigOverrides {
  /** `--web.config.file`: the web config of every `prometheus` exporter (relative to the working directory). */
  readonly webConfigFile?: string | undefined;
}

export async function loadAgentConfig(
  paths: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  overrides: ConfigOverrides = {},
): Promise<AgentConfig> {
  const loaded = await loadConfigFiles(paths, env);
  if (overrides.webConfigFile !== undefined) setWebConfigFile(loaded, overrides.webConfigFile);
  return agentConfigFrom(loaded);
}

/** `--web.config.file` given with `--config`: it becomes `web_config_file` of each prometheus exporter. */
function setWebConfigFile(loaded: LoadedConfig, file: string): void {
  const exporters = loaded.value['exporters'];
  const ids = isMap(exporters) ? Object.keys(exporters).filter((id) => typeOf(id) === 'prometheus') : [];
  if (!isMap(exporters) || ids.length === 0)
    throw new CollectorErrors([
      new CollectorError(
        'ERR_CONFIG_USAGE',
        '--web.config.file: the config has no prometheus exporter to apply it to',
      ),
    ]);
  const problems: CollectorError[] = [];
  for (const id of ids) {
    const c = exporters[id] ?? {};
    if (!isMap(c)) continue; // the schema reports it
    if (c['web_config_file'] !== undefined || c['web_config'] !== undefined) {
      problems.push(
        new CollectorError(
          'ERR_CONFIG_USAGE',
          `--web.config.file: exporters.${id} has its own ${c['web_config_file'] !== undefined ? 'web_config_file' : 'web_config'}; give one of them`,
          { position: loaded.positionOf(['exporters', id], 'key') },
        ),
      );
      continue;
    }
    exporters[id] = { ...c, web_config_file: resolve(file) };
  }
  if (problems.length > 0) throw new CollectorErrors(problems);
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Check a loaded (merged, expanded) config; throws CollectorErrors with every problem. */
export function agentConfigFrom(loaded: LoadedConfig): AgentConfig {
  const { config, errors, warnings } = parseServiceConfig(loaded);
  if (!config) throw new CollectorErrors(errors);
  const problems: CollectorError[] = [...errors];
  const pipelines: PipelineSpec[] = Object.entries(config.service.pipelines).map(([id, p]) => ({
    id,
    receivers: p.receivers,
    processors: p.processors,
    exporters: p.exporters,
    positionOf: (kind, index) => loaded.positionOf(['service', 'pipelines', id, kind, index]),
  }));
  problems.push(...pipelineTypeProblems(pipelines));
  const components = {
    receivers: new Map<string, { config: unknown; configDir: string }>(),
    processors: new Map<string, { config: unknown; configDir: string }>(),
    exporters: new Map<string, { config: unknown; configDir: string }>(),
  };
  for (const section of ['receivers', 'processors', 'exporters'] as const) {
    const known = factories[section] as ReadonlyMap<string, { configSchema: import('zod').ZodType<unknown> }>;
    for (const id of Object.keys(config[section])) {
      const factory = known.get(typeOf(id));
      if (!factory) {
        problems.push(unknownType(loaded, section, id, [...known.keys()]));
        continue;
      }
      const { value, errors: errs } = validateComponentConfig(factory.configSchema, loaded, [section, id]);
      problems.push(...errs);
      if (errs.length > 0) continue;
      const configDir = configDirOf(loaded, section, id);
      const check = configChecks[section].get(typeOf(id));
      const checked =
        check?.(value as never, configDir, {
          path: `${section}.${id}`,
          positionOf: (key) => loaded.positionOf([section, id, key]),
          positionAt: (p) => loaded.positionOf([section, id, ...p]),
        }) ?? [];
      problems.push(...checked);
      if (checked.length === 0) components[section].set(id, { config: value, configDir });
    }
  }
  const checkedExtensions = checkExtensions(loaded, config.service.extensions);
  problems.push(...checkedExtensions.problems);
  if (problems.length > 0) throw new CollectorErrors(problems);
  return {
    extensions: checkedExtensions.extensions,
    files: loaded.files,
    pipelines,
    components,
    logLevel: config.service.telemetry.logs.level,
    warnings: [...(loaded.warnings ?? []), ...warnings],
    loaded,
    service: config.service,
    place: (e) => placeByPath(e, loaded, components),
  };
}

/**
 * The merged, expanded and defaulted config in the form a user writes (durations as
 * `15s`, addresses as `host:port`): what print-config shows; it validates again. Secrets
 * (schema fields marked `secret()`, see secretKeyPaths) are `<redacted>` unless `showSecrets`.
 */
export function effectiveConfig(config: AgentConfig, opts: EncodeOptions = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const section of ['receivers', 'processors', 'exporters'] as const) {
    const known = factories[section] as ReadonlyMap<string, { configSchema: import('zod').ZodType<unknown> }>;
    const entries = [...config.components[section]].map(([id, c]) => {
      const schema = known.get(typeOf(id))?.configSchema;
      return [id, schema ? encodeConfig(schema, c.config, opts) : c.config] as const;
    });
    if (entries.length > 0) out[section] = Object.fromEntries(entries);
  }
  if (config.extensions && config.extensions.size > 0)
    out['extensions'] = encodeExtensions(config.extensions, opts);
  out['service'] = { ...config.service, telemetry: encodeTelemetry(config.service.telemetry) };
  return escapeDollars(out) as Record<string, unknown>;
}

/** `$` in printed strings becomes `$$`, so `${1}` in a relabel replacement is not read back as an env reference. */
function escapeDollars(v: unknown): unknown {
  if (typeof v === 'string') return v.replace(/\$/g, '$$$$');
  if (Array.isArray(v)) return v.map(escapeDollars);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, escapeDollars(x)]));
  }
  return v;
}

/**
 * Processors and exporters whose type cannot carry a traces or logs pipeline's data
 * (their factory's `pipelineTypes`; absent means metrics only). Receivers are checked
 * when the agent is built.
 */
function pipelineTypeProblems(pipelines: readonly PipelineSpec[]): CollectorError[] {
  const problems: CollectorError[] = [];
  for (const p of pipelines) {
    const signal = signalOf(p.id);
    if (signal === 'metrics') continue;
    for (const kind of ['processors', 'exporters'] as const) {
      p[kind].forEach((id, i) => {
        const factory = (factories[kind] as ReadonlyMap<string, { pipelineTypes?: readonly string[] }>).get(
          typeOf(id),
        );
        if (!factory) return; // reported as an unknown type
        const types = factory.pipelineTypes ?? ['metrics'];
        if (types.includes(signal)) return;
        problems.push(pipelineTypeError(p, kind, i, `type "${typeOf(id)}" supports ${listOf([...types])}`));
      });
    }
  }
  return problems;
}

function unknownType(loaded: LoadedConfig, section: Section, id: string, known: string[]): CollectorError {
  const type = typeOf(id);
  return new CollectorError(
    'ERR_CONFIG_UNKNOWN_TYPE',
    `unknown ${section.slice(0, -1)} type "${type}"; expected one of ${listOf(known)}${suggestion(type, known)}`,
    { position: loaded.positionOf([section, id], 'key'), path: `${section}.${id}` },
  );
}

/** Relative paths in a component's config are relative to the file that defined it. */
function configDirOf(loaded: LoadedConfig, section: Section, id: string): string {
  const pos = loaded.positionOf([section, id], 'key');
  return pos ? dirname(resolve(pos.file)) : process.cwd();
}

/** Create every component (no kernel work yet): what `validate` checks beyond the YAML. */
export async function buildAgent(config: AgentConfig, logger: Logger): Promise<Agent> {
  let agent: Agent;
  try {
    agent = await Agent.build(config.pipelines, config.components, factories, logger);
  } catch (err) {
    throw placed(err, config);
  }
  const metrics = config.service.telemetry.metrics;
  agent.telemetry.level = metrics.level;
  agent.telemetry.ownEndpoint = metrics.endpoints.length > 0;
  return agent;
}

/**
 * `service.telemetry.metrics.readers`: serve the self-metrics on their own endpoints (none at
 * level `none`); each is closed when the agent shuts down.
 */
async function serveSelfMetrics(config: AgentConfig, agent: Agent, logger: Logger): Promise<void> {
  const metrics = config.service.telemetry.metrics;
  if (metrics.level === 'none') return;
  for (const endpoint of metrics.endpoints) {
    const server = new SelfMetricsServer({
      endpoint,
      telemetry: () => agent.telemetry,
      ready: () => agent.health().ready,
      health: () => agent.health(),
      logger: logger.child({ telemetry: 'metrics' }),
    });
    await server.listen();
    agent.onShutdown(() => server.close());
  }
}

/**
 * `validate --load` / `--config.check`: open, load and attach every referenced
 * object, check the metric definitions against its maps, then close it all.
 */
export async function checkLoad(config: AgentConfig, logger: Logger): Promise<ProgramCheck[]> {
  try {
    checkCapabilities(deriveCapabilities(config));
  } catch (err) {
    throw placed(err, config);
  }
  tuneMalloc('startup'); // keep libbpf's BTF memory between object loads
  const agent = await buildAgent(config, logger);
  try {
    return await agent.checkLoad();
  } catch (err) {
    throw placed(err, config);
  } finally {
    await agent.shutdown();
  }
}

/**
 * What a passed check says: how many programs attached, then one line per program that
 * did not (loose attachment lets the check pass without them; --config.strict does not).
 */
export function checkSummary(programs: readonly ProgramCheck[]): string[] {
  const missed = programs.filter((p) => !p.attached);
  const head =
    missed.length === 0
      ? `every program loaded and attached (${programs.length})`
      : `${programs.length - missed.length} of ${programs.length} programs attached; not attached:`;
  return [head, ...missed.map((p) => `  ${p.program} (${p.section}): ${p.reason ?? 'failed'}`)];
}

/**
 * A reload (SIGHUP, a changed file): swap the running pipelines for a checked config's,
 * keeping what did not change (Agent.reload). Receivers that must start need the load
 * capabilities, which the agent drops after attach unless told to keep them
 * (`--capabilities.keep`): without them the reload fails before anything changes.
 */
export async function reloadAgent(
  agent: Agent,
  config: AgentConfig,
  previous: AgentConfig,
  logger: Logger,
): Promise<ReloadSummary> {
  const plan = deriveCapabilities(config);
  const summary = await agent.reload(config.pipelines, config.components, factories, {
    beforeStart: (fresh) => {
      if (fresh.receivers === 0) return;
      try {
        checkCapabilities(plan);
      } catch (err) {
        if (!(err instanceof CollectorError)) throw err;
        throw new CollectorError(
          err.code,
          `${err.message}: a reload that starts receivers needs them (the agent drops them after attach unless --capabilities.keep keeps them)`,
          { details: err.details },
        );
      }
    },
  });
  if (JSON.stringify([...(previous.extensions ?? [])]) !== JSON.stringify([...(config.extensions ?? [])]))
    logger.warn('extensions: a change takes effect at the next start; the running ones are kept');
  const [was, now] = [previous.service.telemetry, config.service.telemetry];
  agent.telemetry.level = now.metrics.level;
  if (
    JSON.stringify(was.metrics.endpoints) !== JSON.stringify(now.metrics.endpoints) ||
    was.logs.encoding !== now.logs.encoding
  )
    logger.warn(
      'service.telemetry: a change of the self-metrics endpoints or of the log encoding takes effect at the next start',
    );
  return summary;
}

/**
 * Build and start; one log line says what runs and where metrics are served. glibc malloc
 * keeps libbpf's BTF memory between object loads while starting and gives it back after.
 * The process must hold the capabilities the config needs (src/caps/derive.ts); once
 * everything is attached it keeps only those still needed (or `keep`), on every thread.
 * `abort` stops the start between components (Agent.start).
 */
export async function startAgent(
  config: AgentConfig,
  logger: Logger,
  keep: KeepSetting = { kind: 'derived' },
  abort?: AbortSignal,
): Promise<Agent> {
  let plan: CapabilityPlan;
  try {
    plan = deriveCapabilities(config);
    checkCapabilities(plan);
  } catch (err) {
    throw placed(err, config);
  }
  tuneMalloc('startup');
  const agent = await buildAgent(config, logger);
  // Extensions first (health_check answers 503 while programs load), stopped after the pipelines.
  let extensions: RunningExtensions;
  try {
    extensions = await startExtensions(config.extensions ?? new Map(), agent, logger);
  } catch (err) {
    await agent.shutdown();
    throw err;
  }
  agent.onShutdown(() => extensions.shutdown());
  try {
    await agent.start(abort); // on abort: releases what it loaded, rejects with abort.reason
  } catch (err) {
    throw placed(err, config);
  }
  try {
    await serveSelfMetrics(config, agent, logger);
  } catch (err) {
    await agent.shutdown();
    throw err;
  }
  postAttachMark(); // ebpf_exporter's post-attach hook: after every receiver attached
  try {
    dropAfterAttach(plan, keep, logger);
  } catch (err) {
    await agent.shutdown();
    throw err;
  }
  const served = extensions.describe();
  logger.info({ ...agent.describe(), ...(served.length > 0 ? { extensions: served } : {}) }, 'agent started');
  const unsettle = settleMemory();
  agent.onShutdown(async () => unsettle());
  return agent;
}
