import { merge, share, type Observable } from 'rxjs';
import type { Logger } from 'pino';
import { CollectorError, CollectorErrors, messageOf, type Position } from '../errors.ts';
import type {
  AgentHealth,
  Component,
  CreateSettings,
  Exporter,
  ExporterFactory,
  Host,
  Processor,
  ProgramCheck,
  ProcessorFactory,
  Receiver,
  ReceiverFactory,
} from './component.ts';
import type { LogBatch, MetricBatch, SpanBatch } from './data.ts';
import { agentHealth } from './health.ts';
import { registerProcessMetrics } from './process-metrics.ts';
import { SelfTelemetry } from './telemetry.ts';

/**
 * The running agent: components created from the config and wired into
 * pipelines. Receivers feeding several pipelines run once; each pipeline gets
 * its own processor instances; exporters run once. Start is downstream-first
 * (exporters, processors, receivers), shutdown upstream-first, so every stage
 * can drain.
 *
 * The pipeline id's type picks the stream: `metrics` pipelines carry receivers'
 * `output$` through `operator`s to `consume`; `traces` pipelines `spans$` through
 * `spansOperator`s to `consumeSpans`; `logs` pipelines `logs$` through
 * `logsOperator`s to `consumeLogs`. A component without the stream or operator a
 * pipeline needs is a config error (ERR_CONFIG_PIPELINE_TYPE). Implicit decoder
 * processors are added to metrics pipelines only.
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

type Signal = 'metrics' | 'traces' | 'logs';

/** The data type of a pipeline: the part of its id before `/`. */
export function signalOf(pipelineId: string): Signal {
  const t = typeOf(pipelineId);
  return t === 'traces' || t === 'logs' ? t : 'metrics';
}

/** What a traces or logs pipeline needs of each kind of component. */
const NEEDS = {
  traces: {
    receiver: (r: Receiver) => r.spans$ !== undefined,
    processor: (p: Processor) => p.spansOperator !== undefined,
    exporter: (e: Exporter) => typeof e.consumeSpans === 'function',
  },
  logs: {
    receiver: (r: Receiver) => r.logs$ !== undefined,
    processor: (p: Processor) => p.logsOperator !== undefined,
    exporter: (e: Exporter) => typeof e.consumeLogs === 'function',
  },
} as const;

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

export interface Factories {
  readonly receivers: ReadonlyMap<string, ReceiverFactory<any>>;
  readonly processors: ReadonlyMap<string, ProcessorFactory<any>>;
  readonly exporters: ReadonlyMap<string, ExporterFactory<any>>;
  /** Processor type that supplies a decoder, for pipelines that need it and lack it ('ksym' → 'ksym'). */
  readonly decoderProviders: ReadonlyMap<string, string>;
}

/** Validated component configs by id, and where each was defined. */
export interface ComponentConfigs {
  readonly receivers: ReadonlyMap<string, { config: unknown; configDir: string }>;
  readonly processors: ReadonlyMap<string, { config: unknown; configDir: string }>;
  readonly exporters: ReadonlyMap<string, { config: unknown; configDir: string }>;
}

interface Named<T> {
  readonly id: string;
  readonly component: T;
}

export class Agent {
  readonly telemetry = new SelfTelemetry();
  readonly receivers: Named<Receiver>[] = [];
  readonly processors: Named<Processor>[] = [];
  readonly exporters: Named<Exporter>[] = [];
  private readonly logger: Logger;
  private started: Named<Component>[] = [];
  private isReady = false;
  private stopping: Promise<void> | undefined;
  private stopProcessMetrics: (() => void) | undefined;
  private readonly closers: (() => Promise<void>)[] = [];

  private constructor(logger: Logger) {
    this.logger = logger;
  }

  static async build(
    pipelines: readonly PipelineSpec[],
    configs: ComponentConfigs,
    factories: Factories,
    logger: Logger,
  ): Promise<Agent> {
    const agent = new Agent(logger);
    await agent.create(pipelines, configs, factories);
    return agent;
  }

  private settings(id: string, kind: string, configDir: string): CreateSettings {
    return { id, configDir, logger: this.logger.child({ kind, id }) };
  }

  private async create(
    pipelines: readonly PipelineSpec[],
    configs: ComponentConfigs,
    factories: Factories,
  ): Promise<void> {
    const errors: CollectorError[] = [];
    const receivers = new Map<string, Receiver>();
    const exporters = new Map<string, Exporter>();
    const collect = (err: unknown): void => {
      if (err instanceof CollectorErrors) errors.push(...err.errors);
      else if (err instanceof CollectorError) errors.push(err);
      else throw err;
    };
    const used = (kind: 'receivers' | 'exporters'): Set<string> => new Set(pipelines.flatMap((p) => p[kind]));
    for (const id of used('receivers')) {
      const entry = configs.receivers.get(id);
      const factory = factories.receivers.get(typeOf(id));
      if (!entry || !factory) continue; // reported by config validation
      try {
        const r = await factory.create(this.settings(id, 'receiver', entry.configDir), entry.config);
        receivers.set(id, r);
        this.receivers.push({ id, component: r });
      } catch (err) {
        collect(err);
      }
    }
    for (const id of used('exporters')) {
      const entry = configs.exporters.get(id);
      const factory = factories.exporters.get(typeOf(id));
      if (!entry || !factory) continue;
      try {
        const e = await factory.create(this.settings(id, 'exporter', entry.configDir), entry.config);
        exporters.set(id, e);
        this.exporters.push({ id, component: e });
      } catch (err) {
        collect(err);
      }
    }
    if (errors.length > 0) throw new CollectorErrors(errors);

    const feeds = new Map<string, Set<Receiver>>(); // exporter id → receivers that reach it
    for (const p of pipelines) {
      const procs: Processor[] = [];
      for (const id of p.processors) {
        const entry = configs.processors.get(id);
        const factory = factories.processors.get(typeOf(id));
        if (!entry || !factory) continue;
        try {
          const proc = await factory.create(this.settings(id, 'processor', entry.configDir), entry.config);
          procs.push(proc);
          this.processors.push({ id: `${id}@${p.id}`, component: proc });
        } catch (err) {
          collect(err);
        }
      }
      const pipelineReceivers = p.receivers
        .map((id) => receivers.get(id))
        .filter((r): r is Receiver => r !== undefined);
      const signal = signalOf(p.id);
      if (signal !== 'metrics') {
        errors.push(...this.wireEvents(p, signal, receivers, procs, exporters));
        continue;
      }
      // Decoders the receivers leave pending and no processor of this pipeline supplies: add the supplier.
      const provided = new Set(procs.flatMap((x) => x.provides ?? []));
      for (const decoder of new Set(pipelineReceivers.flatMap((r) => r.pendingDecoders ?? []))) {
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
        const proc = await factory.create(this.settings(type, 'processor', '.'), parsed.data);
        procs.unshift(proc);
        for (const d of proc.provides ?? []) provided.add(d);
        this.processors.push({ id: `${type}@${p.id}(implicit)`, component: proc });
        this.logger.info(
          { pipeline: p.id, processor: type },
          `added processor ${type}: the metrics use decoder ${decoder}`,
        );
      }
      let stream: Observable<MetricBatch> = merge(...pipelineReceivers.map((r) => r.output$));
      for (const proc of procs) stream = stream.pipe(proc.operator);
      stream = stream.pipe(share());
      for (const id of p.exporters) {
        const e = exporters.get(id);
        if (!e) continue;
        e.consume(stream);
        const set = feeds.get(id) ?? new Set<Receiver>();
        pipelineReceivers.forEach((r) => set.add(r));
        feeds.set(id, set);
      }
    }
    if (errors.length > 0) throw new CollectorErrors(errors);
    this.feeds = feeds;
  }

  private feeds = new Map<string, Set<Receiver>>();

  /**
   * A traces or logs pipeline: the receivers' span (log) streams merged, through the
   * processors' operators, shared by the exporters. Returns the components that cannot
   * carry the data type (nothing is wired then).
   */
  private wireEvents(
    p: PipelineSpec,
    signal: 'traces' | 'logs',
    receivers: ReadonlyMap<string, Receiver>,
    procs: readonly Processor[],
    exporters: ReadonlyMap<string, Exporter>,
  ): CollectorError[] {
    const needs = NEEDS[signal];
    const errors: CollectorError[] = [];
    const rs: Receiver[] = [];
    p.receivers.forEach((id, i) => {
      const r = receivers.get(id);
      if (!r) return;
      if (needs.receiver(r)) rs.push(r);
      else
        errors.push(
          pipelineTypeError(
            p,
            'receivers',
            i,
            `it has no ${signal === 'traces' ? 'span' : 'log'} stream configured`,
          ),
        );
    });
    procs.forEach((proc, i) => {
      if (!needs.processor(proc)) errors.push(pipelineTypeError(p, 'processors', i, ''));
    });
    const es: Exporter[] = [];
    p.exporters.forEach((id, i) => {
      const e = exporters.get(id);
      if (!e) return;
      if (needs.exporter(e)) es.push(e);
      else errors.push(pipelineTypeError(p, 'exporters', i, ''));
    });
    if (errors.length > 0) return errors;
    if (signal === 'traces') {
      let stream: Observable<SpanBatch> = merge(...rs.map((r) => r.spans$ as Observable<SpanBatch>));
      for (const proc of procs) if (proc.spansOperator) stream = stream.pipe(proc.spansOperator);
      stream = stream.pipe(share());
      for (const e of es) e.consumeSpans?.(stream);
    } else {
      let stream: Observable<LogBatch> = merge(...rs.map((r) => r.logs$ as Observable<LogBatch>));
      for (const proc of procs) if (proc.logsOperator) stream = stream.pipe(proc.logsOperator);
      stream = stream.pipe(share());
      for (const e of es) e.consumeLogs?.(stream);
    }
    return [];
  }

  private host(exporterId?: string): Host {
    const receivers = exporterId ? [...(this.feeds.get(exporterId) ?? [])] : [];
    return {
      logger: this.logger,
      telemetry: this.telemetry,
      ready: () => this.isReady,
      health: () => this.health(),
      pull: async () => {
        await Promise.all(receivers.map((r) => r.collectNow()));
      },
      dumpMaps: () => receivers.map((r) => r.dumpMaps?.() ?? '').join(''),
    };
  }

  /**
   * Start downstream-first. On a failure, everything started is shut down and the error
   * rethrown. `abort` is checked before each component starts (each receiver loads and
   * attaches its object in its start): once it fires nothing more is loaded, what was is
   * shut down, and start rejects with the abort's reason.
   */
  async start(abort?: AbortSignal): Promise<void> {
    this.stopProcessMetrics ??= registerProcessMetrics(this.telemetry);
    const order: [Named<Component>, Host][] = [
      ...this.exporters.map((e): [Named<Component>, Host] => [e, this.host(e.id)]),
      ...this.processors.map((p): [Named<Component>, Host] => [p, this.host()]),
      ...this.receivers.map((r): [Named<Component>, Host] => [r, this.host()]),
    ];
    for (const [c, host] of order) {
      if (abort?.aborted) {
        await this.shutdown();
        throw abort.reason;
      }
      try {
        await c.component.start(host);
        this.started.push(c);
      } catch (err) {
        this.logger.error({ id: c.id, err: messageOf(err) }, 'start failed');
        await this.shutdown();
        throw err;
      }
    }
    if (abort?.aborted) {
      await this.shutdown();
      throw abort.reason;
    }
    this.isReady = true;
  }

  /** Run every component's `check()` (validate --load); collects every problem, else every report. */
  async checkLoad(): Promise<ProgramCheck[]> {
    const errors: CollectorError[] = [];
    const programs: ProgramCheck[] = [];
    for (const c of [...this.receivers, ...this.processors, ...this.exporters]) {
      try {
        const report = await c.component.check?.();
        if (report) programs.push(...report.programs);
      } catch (err) {
        if (err instanceof CollectorErrors) errors.push(...err.errors);
        else if (err instanceof CollectorError) errors.push(err);
        else errors.push(new CollectorError('ERR_CHECK', `${c.id}: ${messageOf(err)}`));
      }
    }
    if (errors.length > 0) throw new CollectorErrors(errors);
    return programs;
  }

  /** The start line: what each receiver runs and where exporters serve. */
  describe(): Record<string, unknown> {
    const receivers = this.receivers.map((r) => ({ id: r.id, ...(r.component.describe?.() ?? {}) }));
    const exporters = this.exporters.map((e) => ({ id: e.id, ...(e.component.describe?.() ?? {}) }));
    const metrics = exporters
      .map((e) => (e as { metrics?: unknown }).metrics)
      .find((m) => typeof m === 'string');
    return { receivers, exporters, ...(metrics ? { metrics } : {}) };
  }

  /** Each component's health (absent `health()`: ready once started); ready only when all are. */
  health(): AgentHealth {
    return agentHealth(this.stopping ? 'stopping' : this.isReady ? 'running' : 'starting', [
      ...this.receivers.map((c) => ({ ...c, kind: 'receiver' as const })),
      ...this.processors.map((c) => ({ ...c, kind: 'processor' as const })),
      ...this.exporters.map((c) => ({ ...c, kind: 'exporter' as const })),
    ]);
  }

  /** Something the agent serves beside its components (the self-metrics endpoint): closed last at shutdown. */
  onShutdown(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  /** Stop upstream-first: receivers, processors, exporters. Safe twice; never throws. */
  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      this.isReady = false;
      const all: Named<Component>[] = [...this.receivers, ...this.processors, ...this.exporters];
      for (const c of all) {
        try {
          await c.component.shutdown();
        } catch (err) {
          this.logger.error({ id: c.id, err: messageOf(err) }, 'shutdown failed');
        }
      }
      this.started = [];
      for (const close of this.closers.splice(0)) {
        try {
          await close();
        } catch (err) {
          this.logger.error({ err: messageOf(err) }, 'shutdown failed');
        }
      }
      this.stopProcessMetrics?.();
    })();
    return this.stopping;
  }
}

export function typeOf(id: string): string {
  const i = id.indexOf('/');
  return i < 0 ? id : id.slice(0, i);
}
