import type { Observable, OperatorFunction } from 'rxjs';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { LogBatch, MetricBatch, SpanBatch } from './data.ts';
import type { SelfTelemetry } from './telemetry.ts';

/**
 * Component contracts, after the OpenTelemetry Collector's: a factory
 * validates and creates; a component starts and shuts down. `shutdown()` is
 * safe before `start()` and safe twice. After start nothing throws for bad
 * data: it is counted and logged.
 */

export interface Host {
  readonly logger: Logger;
  readonly telemetry: SelfTelemetry;
  /**
   * Ask the receivers feeding this exporter to read their maps now; resolves
   * when the fresh batches have passed through the pipeline. Pull exporters
   * call it on scrape.
   */
  readonly pull: () => Promise<void>;
  /** True once every component of the agent has started (for readiness probes). */
  readonly ready: () => boolean;
  /** Every component's health as the agent sees it now (readiness bodies, the status page). */
  readonly health?: () => AgentHealth;
  /** The `/maps` debug text of the receivers feeding this exporter (absent: none can dump). */
  readonly dumpMaps?: () => string;
}

/** One program as `check()` found it: attached, or not and why (loose attachment). */
export interface ProgramCheck {
  /** ebpf_exporter's `config:program`. */
  readonly program: string;
  readonly section: string;
  readonly attached: boolean;
  readonly reason?: string | undefined;
}

export interface CheckReport {
  readonly programs: readonly ProgramCheck[];
}

/**
 * What a component says about itself, for `/readyz`, the `health_check`
 * extension and `/status`. `ready: false` means it does not do what it must
 * (a required program not attached); trouble that does not make the agent
 * useless (an exporter whose sends fail) is `ready: true` with `problems`.
 */
export interface ComponentHealth {
  readonly ready: boolean;
  /** One line each: what is wrong or degraded; empty when all is well. */
  readonly problems: readonly string[];
  /** JSON-safe facts for `/status` (programs and hooks, maps, queues, last send …). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** The agent's health: started, and each component's own (`ComponentHealth`). */
export interface AgentHealth {
  /** Started, and every component ready. */
  readonly ready: boolean;
  readonly phase: 'starting' | 'running' | 'stopping';
  readonly components: readonly ({ readonly id: string; readonly kind: ComponentKind } & ComponentHealth)[];
  /** The pipelines and the component ids each lists, as configured (for /status). */
  readonly pipelines?: readonly {
    readonly id: string;
    readonly receivers: readonly string[];
    readonly processors: readonly string[];
    readonly exporters: readonly string[];
  }[];
}

export interface Component {
  start(host: Host): Promise<void>;
  shutdown(): Promise<void>;
  /**
   * `validate --load`: do the kernel work of start (load, attach, check) and
   * undo it; throw CollectorError(s) for what would fail; report what was done,
   * including what did not attach without failing the check. Optional.
   */
  check?(): Promise<CheckReport | void>;
  /** Facts for the agent's start line (programs attached, where metrics are served). */
  describe?(): Record<string, unknown>;
  /** Its health now; absent: ready once started, no problems. Cheap: called per probe. */
  health?(): ComponentHealth;
  /**
   * Files it read besides the config (a BPF object, metric definitions): the agent watches
   * them, and a reload makes the component again when one of them changed.
   */
  files?(): readonly string[];
}

export interface Receiver extends Component {
  readonly output$: Observable<MetricBatch>;
  /** Read now and emit (pull path). */
  collectNow(): Promise<void>;
  /** Its maps as debug text (ebpf_exporter's /maps), when it has maps. */
  dumpMaps?(): string;
  /** Decoders its labels need that it cannot run itself (a processor must supply them, e.g. 'ksym'). */
  readonly pendingDecoders?: readonly string[];
  /** Event streams for `traces` and `logs` pipelines, when the receiver produces them. */
  readonly spans$?: Observable<SpanBatch>;
  readonly logs$?: Observable<LogBatch>;
}

export interface Processor extends Component {
  readonly operator: OperatorFunction<MetricBatch, MetricBatch>;
  /** For `traces` / `logs` pipelines, when the processor can transform those. */
  readonly spansOperator?: OperatorFunction<SpanBatch, SpanBatch>;
  readonly logsOperator?: OperatorFunction<LogBatch, LogBatch>;
}

export interface Exporter extends Component {
  consume(input$: Observable<MetricBatch>): void;
  /** For `traces` / `logs` pipelines, when the exporter can send those. */
  consumeSpans?(input$: Observable<SpanBatch>): void;
  consumeLogs?(input$: Observable<LogBatch>): void;
  /** A reload removed the receiver `source`: forget its latest batch (its series end). */
  forgetSource?(source: string): void;
}

/**
 * Beside the pipelines (the collector's extensions, e.g. `health_check`): started before the
 * pipelines, stopped after them; its host's `health()` is the agent's.
 */
export type Extension = Component;

export type ComponentKind = 'receiver' | 'processor' | 'exporter' | 'extension';

export interface CreateSettings {
  /** `type[/name]`, e.g. `ebpf/timers`. */
  readonly id: string;
  readonly logger: Logger;
  /** Directory of the config file that defined the component (for relative paths). */
  readonly configDir: string;
}

export interface Factory<C, T extends Component> {
  readonly type: string;
  readonly kind: ComponentKind;
  readonly configSchema: z.ZodType<C>;
  /**
   * Pipeline types a processor or exporter of this type can join; absent: `metrics` only.
   * Checked when the config loads. (Receivers are checked per instance when the agent is
   * built: whether one has `spans$`/`logs$` depends on its config.)
   */
  readonly pipelineTypes?: readonly ('metrics' | 'traces' | 'logs')[];
  /** May read files (metric definitions); throws CollectorError(s) for bad input. */
  create(settings: CreateSettings, config: C): T | Promise<T>;
}

export type ReceiverFactory<C = unknown> = Factory<C, Receiver>;
export type ProcessorFactory<C = unknown> = Factory<C, Processor>;
export type ExporterFactory<C = unknown> = Factory<C, Exporter>;
export type ExtensionFactory<C = unknown> = Factory<C, Extension>;
