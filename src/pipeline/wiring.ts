import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { merge, Subject, Subscription, type Observable, type OperatorFunction } from 'rxjs';
import type { Logger } from 'pino';
import { CollectorError, CollectorErrors, messageOf, type Position } from '../errors.ts';
import type {
  Component,
  CreateSettings,
  Exporter,
  ExporterFactory,
  Processor,
  ProcessorFactory,
  Receiver,
  ReceiverFactory,
} from './component.ts';
import type { LogBatch, MetricBatch, SpanBatch } from './data.ts';

/**
 * The components of a config and the streams between them. Receivers feeding several
 * pipelines run once; each pipeline gets its own processor instances; exporters run once.
 *
 * The pipeline id's type picks the stream: `metrics` pipelines carry receivers' `output$`
 * through `operator`s; `traces` pipelines `spans$` through `spansOperator`s; `logs`
 * pipelines `logs$` through `logsOperator`s. A component without the stream or operator a
 * pipeline needs is a config error (ERR_CONFIG_PIPELINE_TYPE). Implicit decoder processors
 * are added to metrics pipelines only.
 *
 * Each exporter consumes, once, one input per data type (a Subject that lives as long as the
 * exporter); `connect()` subscribes the pipelines to those inputs. A reload builds the next
 * graph from the previous one, keeping every component whose config (and the files it
 * named) did not change, and swaps the subscriptions in one step (src/pipeline/reload.ts).
 */
export interface PipelineSpec {
  readonly id: string;
  readonly receivers: readonly string[];
  readonly processors: readonly string[];
  readonly exporters: readonly string[];
  /** Where the pipeline lists its `index`th component of `kind` (for error positions). */
  readonly positionOf?: (
    kind: 'receivers' | 'processors' | 'exporters',
    index: number,
  ) => Position | undefined;
}

export type Signal = 'metrics' | 'traces' | 'logs';

export interface Factories {
  readonly receivers: ReadonlyMap<string, ReceiverFactory<any>>;
  readonly processors: ReadonlyMap<string, ProcessorFactory<any>>;
  readonly exporters: ReadonlyMap<string, ExporterFactory<any>>;
  /**
   * Processor type that supplies a decoder, for pipelines that need it and lack it ('ksym' → 'ksym';
   * the agent's is `processorDecoders` of src/decoders).
   */
  readonly decoderProviders: ReadonlyMap<string, string>;
}

/** Validated component configs by id, and where each was defined. */
export interface ComponentConfigs {
  readonly receivers: ReadonlyMap<string, { config: unknown; configDir: string }>;
  readonly processors: ReadonlyMap<string, { config: unknown; configDir: string }>;
  readonly exporters: ReadonlyMap<string, { config: unknown; configDir: string }>;
}

export interface Named<T> {
  /** The config id; processors `id@pipeline` (`type@pipeline(implicit)` when added for a decoder). */
  readonly id: string;
  readonly component: T;
  /** The effective config it was made from (a reload keeps it when the new one is equal). */
  readonly key: string;
  /** Files it read besides the config (`Component.files`), and their content's hash then. */
  readonly files: readonly string[];
  readonly filesHash: string;
  /** Make it again from the same config (a reload that fails after stopping it restores it). */
  readonly remake: () => Promise<T>;
}

/** What an exporter consumes: one Subject per data type, made when first needed. */
export interface ExporterInputs {
  metrics?: Subject<MetricBatch>;
  traces?: Subject<SpanBatch>;
  logs?: Subject<LogBatch>;
}

export interface Graph {
  readonly receivers: Named<Receiver>[];
  readonly processors: Named<Processor>[];
  readonly exporters: Named<Exporter>[];
  /** Exporter id → receivers that reach it (what its `Host.pull` reads). */
  readonly feeds: ReadonlyMap<string, ReadonlySet<Receiver>>;
  readonly inputs: Map<Exporter, ExporterInputs>;
  /** Subscribe every pipeline to its exporters' inputs (undone by unsubscribing the result). */
  connect(): Subscription;
}

/** The data type of a pipeline: the part of its id before `/`. */
export function signalOf(pipelineId: string): Signal {
  const t = typeOf(pipelineId);
  return t === 'traces' || t === 'logs' ? t : 'metrics';
}

export function typeOf(id: string): string {
  const i = id.indexOf('/');
  return i < 0 ? id : id.slice(0, i);
}

/**
 * What a pipeline of each data type takes from each kind of component: the receiver's
 * stream, the processor's operator, the exporter's consume (undefined or false: the
 * component cannot carry that type). Only metrics pipelines are read on demand (`feeds`,
 * `Host.pull`).
 */
interface SignalPath {
  stream(r: Receiver): Observable<unknown> | undefined;
  operator(p: Processor): OperatorFunction<any, any> | undefined;
  accepts(e: Exporter): boolean;
  consume(e: Exporter, input: Subject<any>): void;
  /** Why a receiver without the stream has none (in the type error). */
  readonly noStream: string;
  readonly pulled: boolean;
}

const SIGNALS: Readonly<Record<Signal, SignalPath>> = {
  metrics: {
    stream: (r) => r.output$,
    operator: (p) => p.operator,
    accepts: () => true,
    consume: (e, input) => e.consume(input),
    noStream: '',
    pulled: true,
  },
  traces: {
    stream: (r) => r.spans$,
    operator: (p) => p.spansOperator,
    accepts: (e) => typeof e.consumeSpans === 'function',
    consume: (e, input) => e.consumeSpans?.(input),
    noStream: 'it has no span stream configured',
    pulled: false,
  },
  logs: {
    stream: (r) => r.logs$,
    operator: (p) => p.logsOperator,
    accepts: (e) => typeof e.consumeLogs === 'function',
    consume: (e, input) => e.consumeLogs?.(input),
    noStream: 'it has no log stream configured',
    pulled: false,
  },
};

/** Give an exporter (one made again) the inputs it had, each to its signal's consume. */
export function consumeInputs(exporter: Exporter, inputs: ExporterInputs): void {
  for (const signal of ['metrics', 'traces', 'logs'] as const) {
    const input = inputs[signal];
    if (input) SIGNALS[signal].consume(exporter, input);
  }
}

/** A component that cannot carry its pipeline's data type. */
export function pipelineTypeError(
  pipeline: PipelineSpec,
  kind: 'receivers' | 'processors' | 'exporters',
  index: number,
  detail: string,
): CollectorError {
  const id = pipeline[kind][index] ?? '?';
  const signal = signalOf(pipeline.id);
  const what = signal === 'traces' ? 'spans' : signal === 'logs' ? 'log records' : 'metrics';
  const verb =
    kind === 'receivers' ? 'produces no' : kind === 'processors' ? 'cannot process' : 'cannot export';
  return new CollectorError(
    'ERR_CONFIG_PIPELINE_TYPE',
    `${kind.slice(0, -1)} ${JSON.stringify(id)} ${verb} ${what}, so it cannot be in a ${signal} pipeline${detail ? `: ${detail}` : ''}`,
    {
      position: pipeline.positionOf?.(kind, index),
      path: `service.pipelines.${pipeline.id}.${kind}[${index}]`,
    },
  );
}

/** A config as a comparable string: key order, RegExps, Maps, Sets, bigints and Buffers included. */
export function configKey(config: unknown, configDir: string): string {
  return JSON.stringify([configDir, config], (_k, v: unknown) => {
    if (v instanceof RegExp) return `RegExp:${String(v)}`;
    if (v instanceof Map) return { Map: [...v.entries()] };
    if (v instanceof Set) return { Set: [...v] };
    if (typeof v === 'bigint') return `bigint:${v}`;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (o['type'] === 'Buffer' && Array.isArray(o['data'])) return v;
      return Object.fromEntries(
        Object.keys(o)
          .sort()
          .map((k) => [k, o[k]]),
      );
    }
    return v;
  });
}

/** The content hash of files (a missing or unreadable file hashes as its error code). */
export function hashFiles(files: readonly string[]): string {
  const h = createHash('sha256');
  for (const f of files) {
    h.update(`${f}\0`);
    try {
      h.update(readFileSync(f));
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      h.update(`!${typeof code === 'string' ? code : messageOf(err)}`);
    }
    h.update('\0');
  }
  return h.digest('hex');
}

type Settings = (id: string, kind: string, configDir: string) => CreateSettings;

/**
 * Create the components of `pipelines` (kernel work waits for start) and plan their streams.
 * With `previous`, components whose config and files are unchanged are taken from it (not
 * created); throws CollectorErrors with every problem, after shutting down what it created.
 */
export async function buildGraph(
  pipelines: readonly PipelineSpec[],
  configs: ComponentConfigs,
  factories: Factories,
  settings: Settings,
  logger: Logger,
  previous?: Graph,
): Promise<Graph> {
  const created: Component[] = [];
  try {
    return await build(pipelines, configs, factories, settings, logger, previous, created);
  } catch (err) {
    for (const c of created) await c.shutdown().catch(() => undefined);
    throw err;
  }
}

async function build(
  pipelines: readonly PipelineSpec[],
  configs: ComponentConfigs,
  factories: Factories,
  settings: Settings,
  logger: Logger,
  previous: Graph | undefined,
  created: Component[],
): Promise<Graph> {
  const errors: CollectorError[] = [];
  const collect = (err: unknown): void => {
    if (err instanceof CollectorErrors) errors.push(...err.errors);
    else if (err instanceof CollectorError) errors.push(err);
    else throw err;
  };
  /** The previous graph's component of this id and key when its files are unchanged, else a new one. */
  const obtain = async <T extends Component>(
    kind: 'receiver' | 'processor' | 'exporter',
    id: string,
    name: string,
    factory: { create(s: CreateSettings, c: unknown): T | Promise<T> },
    entry: { config: unknown; configDir: string },
    before: readonly Named<T>[] | undefined,
  ): Promise<Named<T>> => {
    const key = configKey(entry.config, entry.configDir);
    const old = before?.find((n) => n.id === name && n.key === key);
    if (old && hashFiles(old.files) === old.filesHash) return old;
    const remake = async (): Promise<T> => factory.create(settings(id, kind, entry.configDir), entry.config);
    const component = await remake();
    created.push(component);
    const files = component.files?.() ?? [];
    return { id: name, component, key, files, filesHash: hashFiles(files), remake };
  };
  /** Every receiver (exporter) the pipelines use, made once. */
  const createShared = async <T extends Component>(
    kind: 'receiver' | 'exporter',
    made: ReadonlyMap<string, { create(s: CreateSettings, c: unknown): T | Promise<T> }>,
    before: readonly Named<T>[] | undefined,
  ): Promise<Map<string, Named<T>>> => {
    const out = new Map<string, Named<T>>();
    const section = kind === 'receiver' ? 'receivers' : 'exporters';
    for (const id of new Set(pipelines.flatMap((p) => p[section]))) {
      const entry = configs[section].get(id);
      const factory = made.get(typeOf(id));
      if (!entry || !factory) continue; // reported by config validation
      try {
        out.set(id, await obtain(kind, id, id, factory, entry, before));
      } catch (err) {
        collect(err);
      }
    }
    return out;
  };
  const receivers = await createShared<Receiver>('receiver', factories.receivers, previous?.receivers);
  const exporters = await createShared<Exporter>('exporter', factories.exporters, previous?.exporters);
  if (errors.length > 0) throw new CollectorErrors(errors);

  /**
   * A pipeline's own processor instances in order; for a metrics pipeline, first the
   * suppliers of decoders its receivers leave pending that none of its processors supplies.
   */
  const processors: Named<Processor>[] = [];
  const supplies = (type: string): string[] =>
    [...factories.decoderProviders].filter(([, t]) => t === type).map(([d]) => d);
  const createProcessors = async (p: PipelineSpec, rs: readonly Receiver[]): Promise<Processor[]> => {
    const procs: Processor[] = [];
    const provided = new Set<string>();
    for (const id of p.processors) {
      const entry = configs.processors.get(id);
      const factory = factories.processors.get(typeOf(id));
      if (!entry || !factory) continue;
      try {
        const named = await obtain('processor', id, `${id}@${p.id}`, factory, entry, previous?.processors);
        procs.push(named.component);
        for (const d of supplies(typeOf(id))) provided.add(d);
        processors.push(named);
      } catch (err) {
        collect(err);
      }
    }
    if (signalOf(p.id) !== 'metrics') return procs;
    for (const decoder of new Set(rs.flatMap((r) => r.pendingDecoders ?? []))) {
      if (provided.has(decoder)) continue;
      const type = factories.decoderProviders.get(decoder);
      const factory = type ? factories.processors.get(type) : undefined;
      if (!type || !factory) {
        errors.push(
          new CollectorError(
            'ERR_CONFIG_DECODER',
            `pipeline ${p.id}: no processor supplies decoder ${decoder}`,
          ),
        );
        continue;
      }
      const parsed = factory.configSchema.safeParse({});
      const entry: { config: unknown; configDir: string } = { config: parsed.data, configDir: '.' };
      const name = `${type}@${p.id}(implicit)`;
      const named = await obtain('processor', type, name, factory, entry, previous?.processors);
      procs.unshift(named.component);
      for (const d of supplies(type)) provided.add(d);
      processors.push(named);
      if (named.component !== previous?.processors.find((n) => n.id === name)?.component)
        logger.info(
          { pipeline: p.id, processor: type },
          `added processor ${type}: the metrics use decoder ${decoder}`,
        );
    }
    return procs;
  };

  const feeds = new Map<string, Set<Receiver>>();
  /** Per pipeline: its stream and the exporters it feeds (subscribed by connect). */
  const plans: Plan[] = [];
  for (const p of pipelines) {
    const rs = p.receivers.map((id) => receivers.get(id)?.component).filter((r) => r !== undefined);
    const procs = await createProcessors(p, rs);
    const plan = planOf(p, receivers, procs, exporters);
    if (Array.isArray(plan)) {
      errors.push(...plan);
      continue;
    }
    plans.push(plan);
    if (!SIGNALS[plan.signal].pulled) continue;
    for (const id of p.exporters) {
      if (!exporters.has(id)) continue;
      const set = feeds.get(id) ?? new Set<Receiver>();
      rs.forEach((r) => set.add(r));
      feeds.set(id, set);
    }
  }
  if (errors.length > 0) throw new CollectorErrors(errors);

  // Inputs: kept exporters keep theirs; one a data type needs for the first time consumes it now.
  const inputs = new Map<Exporter, ExporterInputs>();
  for (const { signal, to } of plans) {
    for (const exporter of to) {
      const own = inputs.get(exporter) ?? { ...previous?.inputs.get(exporter) };
      inputs.set(exporter, own);
      if (own[signal]) continue;
      const input = new Subject<any>();
      own[signal] = input;
      SIGNALS[signal].consume(exporter, input);
    }
  }
  return {
    receivers: [...receivers.values()],
    processors,
    exporters: [...exporters.values()],
    feeds,
    inputs,
    connect(): Subscription {
      const all = new Subscription();
      for (const { signal, stream, to } of plans) {
        const targets = to
          .map((exporter) => inputs.get(exporter)?.[signal] as Subject<unknown> | undefined)
          .filter((s) => s !== undefined);
        all.add(
          stream.subscribe({
            next: (batch) => {
              for (const t of targets) t.next(batch);
            },
            error: (err: unknown) => logger.error({ err: messageOf(err) }, 'pipeline stream failed'),
          }),
        );
      }
      return all;
    },
  };
}

/** A pipeline's stream and the exporters it feeds. */
interface Plan {
  readonly signal: Signal;
  readonly stream: Observable<unknown>;
  readonly to: readonly Exporter[];
}

/**
 * A pipeline of any data type: its receivers' streams of that type merged, through its
 * processors' operators, to its exporters. Returns the components that cannot carry the
 * data type instead, when there are any.
 */
function planOf(
  p: PipelineSpec,
  receivers: ReadonlyMap<string, Named<Receiver>>,
  procs: readonly Processor[],
  exporters: ReadonlyMap<string, Named<Exporter>>,
): CollectorError[] | Plan {
  const signal = signalOf(p.id);
  const path = SIGNALS[signal];
  const errors: CollectorError[] = [];
  const streams: Observable<unknown>[] = [];
  p.receivers.forEach((id, i) => {
    const r = receivers.get(id)?.component;
    if (!r) return;
    const s = path.stream(r);
    if (s) streams.push(s);
    else errors.push(pipelineTypeError(p, 'receivers', i, path.noStream));
  });
  const operators: OperatorFunction<any, any>[] = [];
  procs.forEach((proc, i) => {
    const op = path.operator(proc);
    if (op) operators.push(op);
    else errors.push(pipelineTypeError(p, 'processors', i, ''));
  });
  const to: Exporter[] = [];
  p.exporters.forEach((id, i) => {
    const e = exporters.get(id)?.component;
    if (!e) return;
    if (path.accepts(e)) to.push(e);
    else errors.push(pipelineTypeError(p, 'exporters', i, ''));
  });
  if (errors.length > 0) return errors;
  let stream: Observable<unknown> = merge(...streams);
  for (const op of operators) stream = stream.pipe(op);
  return { signal, stream, to };
}
