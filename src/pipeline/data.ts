/**
 * Data that flows through a metrics pipeline.
 *
 * A receiver emits a MetricBatch: the complete, cumulative state of its
 * metrics at one instant ("decoded-but-raw": map keys are split into label
 * slots, values are read, but decoders that need a processor's resource — ksym,
 * cgroup — may still be pending). Processors transform batches; exporters
 * assemble them (aggregate identical label sets, build histograms) and export.
 *
 * Map-polled families also come as series tables (series.ts, README.md): per-series state
 * kept across collections, only values moving.
 */

import type { RawColumns, ScalarColumns } from './series.ts';

/** A decoder step as configured in a `metrics:` block. */
export interface DecoderSpec {
  readonly name: string;
  readonly staticMap?: Readonly<Record<string, string>> | undefined;
  readonly allowUnknown?: boolean | undefined;
  readonly regexps?: readonly string[] | undefined;
}

/** One label of one point: its current value and the decoders still to run. */
export interface LabelSlot {
  readonly name: string;
  /** Bytes before the first decoder ran, string after. */
  readonly value: Uint8Array | string;
  /** Decoders not yet applied, in order. Empty when the label is final. */
  readonly pending: readonly DecoderSpec[];
}

export interface RawPoint {
  readonly labels: readonly LabelSlot[];
  /** Counter/gauge value, or the bucket's count for histograms. */
  readonly value: number;
}

export type MetricKind = 'counter' | 'gauge' | 'histogram';

export interface HistogramSpec {
  readonly bucketType: 'exp2' | 'exp2zero' | 'linear' | 'fixed';
  readonly bucketMin: number;
  readonly bucketMax: number;
  readonly bucketMultiplier: number;
  readonly bucketKeys: readonly number[];
}

export interface RawFamily {
  readonly name: string;
  readonly help: string;
  readonly kind: MetricKind;
  /** For histograms: the bucket layout. The last label of every point is the bucket index. */
  readonly histogram?: HistogramSpec | undefined;
  /** Start of the cumulative series (attach time), ms since the epoch. */
  readonly startTimeMs: number;
  readonly points: readonly RawPoint[];
  /** The same points as a series table (series.ts), when the producer keeps one. */
  readonly columns?: RawColumns | undefined;
}

export interface MetricBatch {
  /** Component id of the receiver that produced it. */
  readonly source: string;
  /** Config name for self-metrics (ebpf_exporter's `config` label), e.g. `timers`. */
  readonly config: string;
  readonly timeMs: number;
  readonly families: readonly RawFamily[];
  /**
   * Resource attributes (OpenTelemetry keys such as `k8s.cluster.name`) describing what the
   * whole batch comes from, set by the `resource` processor. Absent (or empty) means none:
   * the exporter's own resource alone. The OTLP exporter sends batches with different
   * resources as separate ResourceMetrics; the Prometheus exporter adds them as labels only
   * with `resource_to_telemetry_conversion: true`. Never holds point labels.
   */
  readonly resource?: Readonly<Record<string, string>> | undefined;
}

/** Final, assembled data as exporters see it. */
export type Labels = Readonly<Record<string, string>>;

export interface ScalarPoint {
  readonly labels: Labels;
  readonly value: number;
  /** Start of this series' cumulative count when it differs from the family's (after a reset). */
  readonly startTimeMs?: number | undefined;
}

export interface HistogramPoint {
  readonly labels: Labels;
  /** Upper bounds, ascending, without +Inf. */
  readonly boundaries: readonly number[];
  /** Non-cumulative counts, one per boundary plus one for +Inf. */
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
  /** Start of this series' cumulative count when it differs from the family's (after a reset). */
  readonly startTimeMs?: number | undefined;
}

export type MetricFamily =
  | {
      readonly kind: 'counter' | 'gauge';
      readonly name: string;
      readonly help: string;
      readonly startTimeMs: number;
      readonly points: readonly ScalarPoint[];
      /** A standard name (process_*, nodejs_*) the prometheus exporter does not prefix with its namespace. */
      readonly unprefixed?: boolean | undefined;
      /**
       * A counter whose name the prometheus exporter writes as given: no `_total` appended
       * (ebpf_exporter's `ebpf_program_run_time_seconds`, which a Go exporter may name so).
       */
      readonly asNamed?: boolean | undefined;
      /** The same points as a series table (series.ts), when assembled from one. */
      readonly columns?: ScalarColumns | undefined;
    }
  | {
      readonly kind: 'histogram';
      readonly name: string;
      readonly help: string;
      readonly startTimeMs: number;
      readonly points: readonly HistogramPoint[];
      readonly unprefixed?: boolean | undefined;
    };

/*
 * Data of traces and logs pipelines: events streamed from the kernel (ring
 * buffers, perf buffers). Times are Unix-epoch nanoseconds (bigint): kernel
 * monotonic timestamps are converted to wall clock by the receiver.
 */

/** One span, e.g. from ebpf_exporter's `tracing.spans` (reserved labels mapped to the fields). */
export interface SpanRecord {
  /** 32 lowercase hex digits. */
  readonly traceId: string;
  /** 16 lowercase hex digits. */
  readonly spanId: string;
  /** 16 lowercase hex digits; absent for a root span. */
  readonly parentSpanId?: string | undefined;
  readonly name: string;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  /** The decoded non-reserved labels. */
  readonly attributes: Labels;
}

export interface SpanBatch {
  readonly source: string;
  readonly config: string;
  readonly spans: readonly SpanRecord[];
  readonly resource?: Readonly<Record<string, string>> | undefined;
}

/** One event as a log record. */
export interface LogRecordData {
  /** When the event happened. */
  readonly timeUnixNano: bigint;
  /** When the agent read it. */
  readonly observedTimeUnixNano: bigint;
  /** OpenTelemetry severity number (9 = INFO) and text. */
  readonly severityNumber?: number | undefined;
  readonly severityText?: string | undefined;
  /** Event name, e.g. `exec` (OTLP LogRecord.event_name). */
  readonly eventName?: string | undefined;
  readonly body: string;
  /** Decoded labels and numeric fields. */
  readonly attributes: Readonly<Record<string, string | number>>;
}

export interface LogBatch {
  readonly source: string;
  readonly config: string;
  readonly records: readonly LogRecordData[];
  readonly resource?: Readonly<Record<string, string>> | undefined;
}
