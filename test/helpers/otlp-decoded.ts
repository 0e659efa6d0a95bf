/**
 * What the test OTLP receiver (otlp-receiver.ts) records, decoded: the metrics request as the
 * protobufjs root of @opentelemetry/otlp-transformer 0.215.0 gives it (dev-dependency alias
 * `otlp-proto-legacy`; `longs: String`), the trace and logs requests as our own wire reader
 * (otlp-wire.ts) gives them, and the readers tests use on them.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type {
  WireKeyValue,
  WireLogRecord,
  WireLogsRequest,
  WireSpan,
  WireTraceRequest,
} from './otlp-wire.ts';

const require = createRequire(import.meta.url);

interface ProtoType {
  decode(buf: Uint8Array): unknown;
  encode(msg: object): { finish(): Uint8Array };
  toObject(msg: unknown, opts: Record<string, unknown>): unknown;
}
const root = require('otlp-proto-legacy/build/src/generated/root') as {
  opentelemetry: {
    proto: {
      collector: {
        metrics: {
          v1: { ExportMetricsServiceRequest: ProtoType; ExportMetricsServiceResponse: ProtoType };
        };
      };
    };
  };
};
const { ExportMetricsServiceRequest, ExportMetricsServiceResponse } =
  root.opentelemetry.proto.collector.metrics.v1;

/** A metrics export request, decoded (throws on bad protobuf). */
export function decodeMetricsRequest(body: Uint8Array): ExportRequest {
  return ExportMetricsServiceRequest.toObject(ExportMetricsServiceRequest.decode(body), {
    longs: String,
    arrays: true,
  }) as ExportRequest;
}

/** The (empty) ExportMetricsServiceResponse. */
export function metricsResponse(): Buffer {
  return Buffer.from(ExportMetricsServiceResponse.encode({}).finish());
}

// Decoded OTLP, as protobufjs toObject gives it with `longs: String` (64-bit values are strings).
export interface KeyValue {
  key: string;
  value: { stringValue?: string; intValue?: string; doubleValue?: number; boolValue?: boolean };
}
export interface NumberDataPoint {
  attributes?: KeyValue[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  asInt?: string;
  asDouble?: number;
}
export interface HistogramDataPoint {
  attributes?: KeyValue[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  count: string;
  sum?: number;
  bucketCounts?: string[];
  explicitBounds?: number[];
}
export interface ExponentialHistogramDataPoint {
  attributes?: KeyValue[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  count: string;
  sum?: number;
  scale?: number;
  zeroCount?: string;
  positive?: { offset?: number; bucketCounts?: string[] };
  negative?: { offset?: number; bucketCounts?: string[] };
}
export interface OtlpMetric {
  name: string;
  description?: string;
  unit?: string;
  sum?: { dataPoints?: NumberDataPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
  gauge?: { dataPoints?: NumberDataPoint[] };
  histogram?: { dataPoints?: HistogramDataPoint[]; aggregationTemporality?: number };
  exponentialHistogram?: { dataPoints?: ExponentialHistogramDataPoint[]; aggregationTemporality?: number };
}
export interface ExportRequest {
  resourceMetrics?: {
    resource?: { attributes?: KeyValue[] };
    scopeMetrics?: { scope?: { name?: string }; metrics?: OtlpMetric[] }[];
  }[];
}

/** OTLP AggregationTemporality values on the wire. */
export const TEMPORALITY = { DELTA: 1, CUMULATIVE: 2 } as const;

export interface ReceivedExport {
  readonly request: ExportRequest;
  /** Request metadata (string values), as the server application sees it. */
  readonly metadata: Record<string, string>;
  /** Size of the (decompressed) protobuf request. */
  readonly bytes: number;
  /** SHA-256 of the (decompressed) protobuf request (digestOf): a request sent again has the same. */
  readonly digest: string;
  /** The gRPC status code answered (0 = OK); over HTTP, 0 for 200, else the HTTP status. */
  readonly answered: number;
}

export interface ReceivedEventCall<T> {
  readonly request: T;
  readonly metadata: Record<string, string>;
  /** Size of the (decompressed) protobuf request. */
  readonly bytes: number;
  /** SHA-256 of the (decompressed) protobuf request (digestOf): a request sent again has the same. */
  readonly digest: string;
  /** The gRPC status code answered (0 = OK); over HTTP, 0 for 200, else the HTTP status. */
  readonly answered: number;
}

/** Every span of a trace call with its resource attributes and scope name, in order. */
export function spansOf(
  call: ReceivedEventCall<WireTraceRequest>,
): { resource: Record<string, unknown>; scope: string | undefined; span: WireSpan }[] {
  return (call.request.resourceSpans ?? []).flatMap((rs) =>
    (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((span) => ({
        resource: typedAttributes(rs.resource?.attributes),
        scope: ss.scope?.name,
        span,
      })),
    ),
  );
}

/** Data points in one metrics export call (every resource, scope and metric). */
export function pointsOf(call: ReceivedExport | undefined): number {
  let n = 0;
  for (const rm of call?.request.resourceMetrics ?? [])
    for (const sm of rm.scopeMetrics ?? [])
      for (const m of sm.metrics ?? [])
        n += (
          m.sum?.dataPoints ??
          m.gauge?.dataPoints ??
          m.histogram?.dataPoints ??
          m.exponentialHistogram?.dataPoints ??
          []
        ).length;
  return n;
}

/** Every log record of a logs call with its resource attributes and scope name, in order. */
export function logRecordsOf(
  call: ReceivedEventCall<WireLogsRequest>,
): { resource: Record<string, unknown>; scope: string | undefined; record: WireLogRecord }[] {
  return (call.request.resourceLogs ?? []).flatMap((rl) =>
    (rl.scopeLogs ?? []).flatMap((sl) =>
      (sl.logRecords ?? []).map((record) => ({
        resource: typedAttributes(rl.resource?.attributes),
        scope: sl.scope?.name,
        record,
      })),
    ),
  );
}

/**
 * Attributes with their wire type kept: `{ s: 'x' }` for a string, `{ i: '5' }` for an
 * int (decimal text, exact), `{ d: 1.5 }` for a double, `{ b: true }` for a bool.
 */
export function typedAttributes(kvs: readonly WireKeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs ?? []) {
    const v = kv.value ?? {};
    out[kv.key] =
      v.stringValue !== undefined
        ? { s: v.stringValue }
        : v.intValue !== undefined
          ? { i: v.intValue }
          : v.doubleValue !== undefined
            ? { d: v.doubleValue }
            : v.boolValue !== undefined
              ? { b: v.boolValue }
              : v;
  }
  return out;
}

/** All metrics of one call, flattened over resources and scopes. */
export function metricsOf(call: ReceivedExport): OtlpMetric[] {
  return (call.request.resourceMetrics ?? []).flatMap((rm) =>
    (rm.scopeMetrics ?? []).flatMap((sm) => sm.metrics ?? []),
  );
}

/** Attributes as a plain map of string values. */
export function attributesOf(kvs: readonly KeyValue[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of kvs ?? []) out[kv.key] = kv.value.stringValue ?? JSON.stringify(kv.value);
  return out;
}

/** SHA-256 of a request body, hex. */
export function digestOf(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}
