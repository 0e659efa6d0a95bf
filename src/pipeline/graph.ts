import type { Subscription } from 'rxjs';
import type { Logger } from 'pino';
import { CollectorError, CollectorErrors, messageOf } from '../errors.ts';
import type {
  AgentHealth,
  Component,
  CreateSettings,
  Exporter,
  Host,
  Processor,
  ProgramCheck,
  Receiver,
} from './component.ts';
import { agentHealth } from './health.ts';
import { registerProcessMetrics } from './process-metrics.ts';
import { swapGraph, type ReloadOptions, type ReloadSummary } from './reload.ts';
import { SelfTelemetry } from './telemetry.ts';
import {
  buildGraph,
  type ComponentConfigs,
  type Factories,
  type Graph,
  type Named,
  type PipelineSpec,
} from './wiring.ts';

export {
  pipelineTypeError,
  signalOf,
  typeOf,
  type ComponentConfigs,
  type Factories,
  type Named,
  type PipelineSpec,
} from './wiring.ts';

export class Agent {
  readonly telemetry = new SelfTelemetry();
  private readonly logger: Logger;
  private graph: Graph;
  private wiring: Subscription;
  private isReady = false;
  private stopping: Promise<void> | undefined;
  /** The reload in progress (shutdown waits for it: it stops what it started). */
  private reloading: Promise<unknown> | undefined;
  private stopProcessMetrics: (() => void) | undefined;
  private readonly closers: (() => Promise<void>)[] = [];
  /** The configured pipelines (ids only), for the health and the status page. */
  private pipelines: NonNullable<AgentHealth['pipelines']> = [];

  private constructor(logger: Logger, graph: Graph) {
    this.logger = logger;
    this.graph = graph;
    this.wiring = graph.connect();
  }

  static async build(
    pipelines: readonly PipelineSpec[],
    configs: ComponentConfigs,
    factories: Factories,
    logger: Logger,
  ): Promise<Agent> {
    const settings = (id: string, kind: string, configDir: string): CreateSettings => ({
      id,
      configDir,
      logger: logger.child({ kind, id }),
    });
    const agent = new Agent(logger, await buildGraph(pipelines, configs, factories, settings, logger));
    agent.pipelines = pipelineIds(pipelines);
    return agent;
  }

  get receivers(): readonly Named<Receiver>[] {
    return this.graph.receivers;
  }

  get processors(): readonly Named<Processor>[] {
    return this.graph.processors;
  }

  get exporters(): readonly Named<Exporter>[] {
    return this.graph.exporters;
  }

  /** Files the components read besides the config (a change of one is a reason to reload). */
  files(): string[] {
    const all = [...this.receivers, ...this.processors, ...this.exporters].flatMap((c) => c.files);
    return [...new Set(all)];
  }

  /**
   * Swap in the pipelines of a new (checked) config: unchanged components are kept
   * running, changed and new ones started (new receivers attached before the old ones
   * detach), the streams switched in one step, then what is no longer used is stopped. On
   * any failure the new components are stopped and the old pipelines run on untouched;
   * the error is rethrown. A shutdown meanwhile ends the reload (rejects) first.
   */
  async reload(
    pipelines: readonly PipelineSpec[],
    configs: ComponentConfigs,
    factories: Factories,
    options: ReloadOptions = {},
  ): Promise<ReloadSummary> {
    if (this.stopping || this.reloading) throw new Error('the agent is stopping or already reloading');
    const run = (async () => {
      const settings = (id: string, kind: string, configDir: string): CreateSettings => ({
        id,
        configDir,
        logger: this.logger.child({ kind, id }),
      });
      const next = await buildGraph(pipelines, configs, factories, settings, this.logger, this.graph);
      return swapGraph(this.graph, next, {
        ...options,
        logger: this.logger,
        telemetry: this.telemetry,
        host: (exporterId) => this.host(exporterId),
        stopping: () => this.stopping !== undefined,
        commit: () => {
          const old = this.wiring;
          this.graph = next;
          this.pipelines = pipelineIds(pipelines);
          this.wiring = next.connect();
          old.unsubscribe();
        },
      });
    })();
    this.reloading = run;
    try {
      return await run;
    } finally {
      this.reloading = undefined;
    }
  }

  private host(exporterId?: string): Host {
    // The receivers feeding the exporter now (a reload changes them).
    const receivers = (): Receiver[] => (exporterId ? [...(this.graph.feeds.get(exporterId) ?? [])] : []);
    return {
      logger: this.logger,
      telemetry: this.telemetry,
      ready: () => this.isReady,
      health: () => this.health(),
      pull: async () => {
        await Promise.all(receivers().map((r) => r.collectNow()));
      },
      dumpMaps: () =>
        receivers()
          .map((r) => r.dumpMaps?.() ?? '')
          .join(''),
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
    const h = agentHealth(this.stopping ? 'stopping' : this.isReady ? 'running' : 'starting', [
      ...this.receivers.map((c) => ({ ...c, kind: 'receiver' as const })),
      ...this.processors.map((c) => ({ ...c, kind: 'processor' as const })),
      ...this.exporters.map((c) => ({ ...c, kind: 'exporter' as const })),
    ]);
    return { ...h, pipelines: this.pipelines };
  }

  /** Something the agent serves beside its components (the self-metrics endpoint): closed last at shutdown. */
  onShutdown(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  /** Stop upstream-first: receivers, processors, exporters. Safe twice; never throws. */
  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      this.isReady = false;
      await this.reloading?.catch(() => undefined); // it sees `stopping` and stops what it started
      const all: Named<Component>[] = [...this.receivers, ...this.processors, ...this.exporters];
      for (const c of all) {
        try {
          await c.component.shutdown();
        } catch (err) {
          this.logger.error({ id: c.id, err: messageOf(err) }, 'shutdown failed');
        }
      }
      this.wiring.unsubscribe();
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

/** The pipelines as the health shows them: ids only. */
function pipelineIds(pipelines: readonly PipelineSpec[]): NonNullable<AgentHealth['pipelines']> {
  return pipelines.map(({ id, receivers, processors, exporters }) => ({
    id,
    receivers,
    processors,
    exporters,
  }));
}
