import { hostname } from 'node:os';
import { ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { LogRecordData, SpanRecord } from '../../pipeline/data.ts';
import { INSTANCE_ID } from './exporter.ts';
import type { DropReason, SendCodec } from './sender.ts';

/**
 * Spans and log records as OTLP requests (the sender, sender.ts, queues and sends them): the
 * checks, the input of @opentelemetry/otlp-transformer's protobuf serializers (ids as bytes,
 * times as fixed64 nanoseconds, typed attributes), the receiver's partial-success answer, the
 * resources. One batch is one request.
 */

type ReadableSpan = Parameters<typeof ProtobufTraceSerializer.serializeRequest>[0][number];
type ReadableLogRecord = Parameters<typeof ProtobufLogsSerializer.serializeRequest>[0][number];

export type EventSignal = 'traces' | 'logs';

const SCOPE = { name: 'ebpf-collector' };
const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const ZERO16 = '0000000000000000';
const NS_PER_S = 1_000_000_000n;

/** bigint Unix nanoseconds → [seconds, nanoseconds] (exact; the serializer writes them back as one fixed64). */
export function hrTime(ns: bigint): [number, number] {
  const t = ns < 0n ? 0n : ns;
  return [Number(t / NS_PER_S), Number(t % NS_PER_S)];
}

/** Why a span cannot be sent, or undefined. */
export function spanProblem(s: SpanRecord): string | undefined {
  if (!HEX32.test(s.traceId) || /^0+$/.test(s.traceId))
    return 'trace id is not 32 lowercase hex digits, not all zero';
  if (!HEX16.test(s.spanId) || s.spanId === ZERO16)
    return 'span id is not 16 lowercase hex digits, not all zero';
  if (s.parentSpanId !== undefined && !HEX16.test(s.parentSpanId))
    return 'parent span id is not 16 hex digits';
  if (s.endTimeUnixNano < s.startTimeUnixNano) return 'span ends before it starts';
  return undefined;
}

export interface Queued<R> {
  readonly record: R;
  readonly resource: Resource;
}

const RECORD_DROPS: readonly DropReason[] = [
  'queue_full',
  'export_failed',
  'rejected',
  'shutdown',
  'invalid',
];

/** A record signal's codec: one item per record, one request per batch. */
function recordCodec<R>(c: {
  signal: EventSignal;
  unit: string;
  problem: (record: R) => string | undefined;
  serialize: (items: readonly Queued<R>[]) => Uint8Array | undefined;
  rejected: (response: Uint8Array) => { count: number; message: string | undefined };
}): SendCodec<Queued<R>> {
  return {
    signal: c.signal,
    unit: c.unit,
    cumulative: false,
    reasons: RECORD_DROPS,
    size: () => 1,
    problem: (q) => c.problem(q.record),
    encode(items) {
      const body = c.serialize(items);
      if (!body) throw new Error(`the ${c.unit} could not be serialized`);
      return [{ body, items: items.length }];
    },
    rejected: c.rejected,
  };
}

export const spanCodec = recordCodec<SpanRecord>({
  signal: 'traces',
  unit: 'spans',
  problem: spanProblem,
  serialize(items) {
    const spans = items.map(({ record: s, resource }): ReadableSpan => {
      const start = hrTime(s.startTimeUnixNano);
      const end = hrTime(s.endTimeUnixNano);
      const parent = s.parentSpanId !== undefined && s.parentSpanId !== ZERO16 ? s.parentSpanId : undefined;
      return {
        name: s.name,
        kind: 0, // INTERNAL (OTLP SPAN_KIND_INTERNAL = 1)
        spanContext: () => ({ traceId: s.traceId, spanId: s.spanId, traceFlags: 1 }),
        ...(parent ? { parentSpanContext: { traceId: s.traceId, spanId: parent, traceFlags: 1 } } : {}),
        startTime: start,
        endTime: end,
        duration: hrTime(s.endTimeUnixNano - s.startTimeUnixNano),
        status: { code: 0 },
        attributes: s.attributes,
        links: [],
        events: [],
        ended: true,
        resource,
        instrumentationScope: SCOPE,
        droppedAttributesCount: 0,
        droppedEventsCount: 0,
        droppedLinksCount: 0,
      };
    });
    return ProtobufTraceSerializer.serializeRequest(spans);
  },
  rejected(response) {
    const p = ProtobufTraceSerializer.deserializeResponse(response).partialSuccess;
    return { count: Number(p?.rejectedSpans ?? 0), message: p?.errorMessage || undefined };
  },
});

export const logCodec = recordCodec<LogRecordData>({
  signal: 'logs',
  unit: 'log_records',
  problem: () => undefined,
  serialize(items) {
    const records = items.map(({ record: r, resource }): ReadableLogRecord => ({
      hrTime: hrTime(r.timeUnixNano),
      hrTimeObserved: hrTime(r.observedTimeUnixNano),
      ...(r.severityNumber !== undefined ? { severityNumber: r.severityNumber } : {}),
      ...(r.severityText !== undefined ? { severityText: r.severityText } : {}),
      ...(r.eventName !== undefined ? { eventName: r.eventName } : {}),
      body: r.body,
      resource,
      instrumentationScope: SCOPE,
      attributes: r.attributes,
      droppedAttributesCount: 0,
    }));
    return ProtobufLogsSerializer.serializeRequest(records);
  },
  rejected(response) {
    const p = ProtobufLogsSerializer.deserializeResponse(response).partialSuccess;
    return { count: Number(p?.rejectedLogRecords ?? 0), message: p?.errorMessage || undefined };
  },
});

/** Resource objects by attribute set: the serializer groups records by resource identity. */
export class Resources {
  private readonly cache = new Map<string, Resource>();
  private readonly base: Readonly<Record<string, string>>;

  constructor() {
    this.base = {
      'service.name': 'ebpf-collector',
      'service.instance.id': INSTANCE_ID,
      'host.name': hostname(),
    };
  }

  /** As for metrics: the batch's attributes over the agent's, `service.instance.id` always this process's. */
  of(attributes: Readonly<Record<string, string>> | undefined): Resource {
    const merged = { ...this.base, ...attributes, 'service.instance.id': INSTANCE_ID };
    const key = JSON.stringify(Object.entries(merged).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    let r = this.cache.get(key);
    if (!r) {
      if (this.cache.size >= 1000) this.cache.clear(); // bounded; a new object only splits a request's grouping
      r = resourceFromAttributes(merged);
      this.cache.set(key, r);
    }
    return r;
  }
}
