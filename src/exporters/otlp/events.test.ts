import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { Subject } from 'rxjs';
import type { Host } from '../../pipeline/component.ts';
import type { LogBatch, LogRecordData, SpanBatch, SpanRecord } from '../../pipeline/data.ts';
import { SelfTelemetry } from '../../pipeline/telemetry.ts';
import {
  logRecordsOf,
  spansOf,
  startOtlpReceiver,
  typedAttributes,
  type OtlpReceiver,
} from '../../../test/helpers/otlp-receiver.ts';
import { configSchema } from './config.ts';
import { hrTime, spanProblem } from './events.ts';
import { INSTANCE_ID } from './exporter.ts';
import { OtlpExporter } from './otlp.ts';
import { BoundedQueue } from './sender.ts';
import { channelCredentials } from './tls.ts';
import { grpcWire } from './transport.ts';
import { testHost } from '../../../test/helpers/host.ts';
import { until } from '../../../test/helpers/until.ts';

const UNAVAILABLE = 14;
const PERMISSION_DENIED = 7;
const logger = pino({ level: 'silent' });

// Times past 2^53 ns with odd nanoseconds: they must arrive exactly.
const T0 = 1_764_000_000_123_456_789n;

const ROOT: SpanRecord = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  name: 'http_request',
  startTimeUnixNano: T0,
  endTimeUnixNano: T0 + 1_500_001n,
  attributes: { comm: 'curl', pid: '4242' },
};
const CHILD: SpanRecord = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: '00f067aa0ba902b7',
  parentSpanId: 'b7ad6b7169203331',
  name: 'tcp_connect',
  startTimeUnixNano: T0 + 10n,
  endTimeUnixNano: T0 + 999n,
  attributes: { daddr: '127.0.0.1' },
};

const EXEC: LogRecordData = {
  timeUnixNano: T0,
  observedTimeUnixNano: T0 + 5_000_000n,
  severityNumber: 9,
  severityText: 'INFO',
  eventName: 'exec',
  body: 'exec /usr/bin/true',
  attributes: { comm: 'true', pid: 31337, ratio: 0.25, big: 2 ** 40 + 3 },
};

function span(i: number): SpanRecord {
  return {
    traceId: (i + 1).toString(16).padStart(32, '0'),
    spanId: (i + 1).toString(16).padStart(16, '0'),
    name: `s${i}`,
    startTimeUnixNano: T0 + BigInt(i),
    endTimeUnixNano: T0 + BigInt(i) + 1n,
    attributes: { i: String(i) },
  };
}

interface Rig {
  exporter: OtlpExporter;
  spans: Subject<SpanBatch>;
  logs: Subject<LogBatch>;
  telemetry: SelfTelemetry;
  host: Host;
  value(name: string, labels: Record<string, string>): number | undefined;
}

function rig(endpoint: string, extra: Record<string, unknown> = {}, id = 'otlp/ev'): Rig {
  const config = configSchema.parse({
    endpoint: `http://${endpoint}`,
    timeout: '2s',
    retry_on_failure: { initial_interval: '20ms', max_interval: '50ms' },
    ...extra,
  });
  const exporter = new OtlpExporter(
    id,
    config,
    grpcWire(config, channelCredentials(config, '.', 'exporters.otlp')),
    logger,
  );
  const telemetry = new SelfTelemetry();
  const host = testHost({ logger, telemetry });
  const spans = new Subject<SpanBatch>();
  const logs = new Subject<LogBatch>();
  exporter.consumeSpans(spans);
  exporter.consumeLogs(logs);
  return {
    exporter,
    spans,
    logs,
    telemetry,
    host,
    value: (name, labels) => telemetry.counter(name, '').value(labels),
  };
}

const spanBatch = (spans: SpanRecord[], resource?: Record<string, string>): SpanBatch => ({
  source: 'ebpf/tracing',
  config: 'tracing',
  spans,
  ...(resource ? { resource } : {}),
});
const logBatch = (records: LogRecordData[], resource?: Record<string, string>): LogBatch => ({
  source: 'ebpf/exec',
  config: 'exec',
  records,
  ...(resource ? { resource } : {}),
});

describe('otlp exporter: spans and log records against a real OTLP/gRPC receiver', () => {
  let receiver: OtlpReceiver;
  before(async () => {
    receiver = await startOtlpReceiver();
  });
  after(async () => {
    await receiver.close();
  });
  const fresh = async (): Promise<void> => {
    await receiver.close();
    receiver = await startOtlpReceiver();
  };

  it('sends spans: ids as bytes, parent only for the child, exact fixed64 times, attributes, resource, headers', async () => {
    await fresh();
    const r = rig(receiver.endpoint, { headers: { 'x-tenant': 'node-team' } });
    await r.exporter.start(r.host);
    r.spans.next(spanBatch([ROOT, CHILD], { 'k8s.cluster.name': 'prod', 'service.name': 'tracer' }));
    await r.exporter.events.traces?.idle();
    await receiver.waitForEventCalls('traces', 1);
    assert.equal(receiver.traceCalls.length, 1, 'one request for one batch');
    const call = receiver.traceCalls[0]!;
    assert.equal(call.metadata['x-tenant'], 'node-team');
    assert.match(call.metadata['user-agent'] ?? '', /^ebpf-collector\/\S+ /);
    const got = spansOf(call);
    assert.equal(got.length, 2);
    const [root, child] = got;
    assert.deepEqual(root!.resource, {
      'service.name': { s: 'tracer' },
      'service.instance.id': { s: INSTANCE_ID },
      'host.name': { s: hostname() },
      'k8s.cluster.name': { s: 'prod' },
    });
    assert.equal(root!.scope, 'ebpf-collector');
    const { _unknown: u1, ...rootSpan } = root!.span;
    assert.equal(u1, undefined, 'no field unknown to the OTLP schema');
    assert.deepEqual(rootSpan, {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      name: 'http_request',
      kind: 1, // SPAN_KIND_INTERNAL
      startTimeUnixNano: '1764000000123456789',
      endTimeUnixNano: '1764000000124956790',
      attributes: [
        { key: 'comm', value: { stringValue: 'curl' } },
        { key: 'pid', value: { stringValue: '4242' } },
      ],
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
      status: { code: 0 },
      flags: 0x101, // sampled, HAS_IS_REMOTE (not remote)
    });
    assert.equal('parentSpanId' in rootSpan, false, 'a root span has no parent_span_id on the wire');
    assert.equal(child!.span.parentSpanId, 'b7ad6b7169203331');
    assert.equal(child!.span.spanId, '00f067aa0ba902b7');
    assert.equal(child!.span.startTimeUnixNano, '1764000000123456799');
    assert.equal(child!.span.endTimeUnixNano, '1764000000123457788');
    assert.deepEqual(typedAttributes(child!.span.attributes), { daddr: { s: '127.0.0.1' } });
    assert.equal(r.value('exporter_sent_spans_total', { exporter: 'otlp/ev' }), 2);
    assert.equal(receiver.calls.length, 0, 'no metrics export: no metrics pipeline feeds this exporter');
    await r.exporter.shutdown();
  });

  it('sends log records: event_name, severity, body, typed attributes (int, double, string), both times', async () => {
    await fresh();
    const r = rig(receiver.endpoint);
    await r.exporter.start(r.host);
    r.logs.next(
      logBatch([
        EXEC,
        {
          ...EXEC,
          eventName: undefined,
          severityNumber: undefined,
          severityText: undefined,
          body: 'plain',
          attributes: {},
        },
      ]),
    );
    await r.exporter.events.logs?.idle();
    await receiver.waitForEventCalls('logs', 1);
    const got = logRecordsOf(receiver.logCalls[0]!);
    assert.equal(got.length, 2);
    const { _unknown, attributes, ...rest } = got[0]!.record;
    assert.equal(_unknown, undefined);
    assert.deepEqual(rest, {
      timeUnixNano: '1764000000123456789',
      observedTimeUnixNano: '1764000000128456789',
      severityNumber: 9,
      severityText: 'INFO',
      eventName: 'exec',
      body: { stringValue: 'exec /usr/bin/true' },
      droppedAttributesCount: 0,
    });
    assert.deepEqual(typedAttributes(attributes), {
      comm: { s: 'true' },
      pid: { i: '31337' },
      ratio: { d: 0.25 },
      big: { i: String(2 ** 40 + 3) },
    });
    const plain = got[1]!.record;
    assert.equal(plain.eventName, undefined);
    assert.equal(plain.severityNumber, undefined);
    assert.equal(plain.severityText, undefined);
    assert.deepEqual(plain.body, { stringValue: 'plain' });
    assert.deepEqual(got[0]!.resource['service.name'], { s: 'ebpf-collector' });
    assert.equal(r.value('exporter_sent_log_records_total', { exporter: 'otlp/ev' }), 2);
    await r.exporter.shutdown();
  });

  it('groups records of different resources into one request, one ResourceSpans each', async () => {
    await fresh();
    const r = rig(receiver.endpoint, { sending_queue: { batch: { flush_timeout: '50ms' } } });
    await r.exporter.start(r.host);
    r.spans.next(spanBatch([span(0)], { 'k8s.node.name': 'a' }));
    r.spans.next(spanBatch([span(1)], { 'k8s.node.name': 'b' }));
    r.spans.next(spanBatch([span(2)], { 'k8s.node.name': 'a' }));
    await receiver.waitForEventCalls('traces', 1);
    await r.exporter.events.traces?.idle();
    assert.equal(
      receiver.traceCalls.length,
      1,
      'a partial batch waits flush_timeout, then goes as one request',
    );
    const rs = receiver.traceCalls[0]!.request.resourceSpans ?? [];
    assert.equal(rs.length, 2);
    const names = spansOf(receiver.traceCalls[0]!).map((x) => [x.resource['k8s.node.name'], x.span.name]);
    assert.deepEqual(names, [
      [{ s: 'a' }, 's0'],
      [{ s: 'a' }, 's2'],
      [{ s: 'b' }, 's1'],
    ]);
    await r.exporter.shutdown();
  });

  it('batches: max_size records per request, in order, none lost', async () => {
    await fresh();
    const r = rig(receiver.endpoint, { sending_queue: { batch: { max_size: 4, flush_timeout: '20ms' } } });
    await r.exporter.start(r.host);
    r.spans.next(spanBatch(Array.from({ length: 10 }, (_, i) => span(i))));
    await receiver.waitForEventCalls('traces', 3);
    await r.exporter.events.traces?.idle();
    const sizes = receiver.traceCalls.map((c) => spansOf(c).length);
    assert.deepEqual(sizes, [4, 4, 2]);
    const order = receiver.traceCalls.flatMap((c) => spansOf(c).map((x) => x.span.name));
    assert.deepEqual(
      order,
      Array.from({ length: 10 }, (_, i) => `s${i}`),
    );
    assert.equal(r.value('exporter_sent_spans_total', { exporter: 'otlp/ev' }), 10);
    await r.exporter.shutdown();
  });

  it('retries UNAVAILABLE with the same batch, then delivers it once', async () => {
    await fresh();
    const r = rig(receiver.endpoint);
    await r.exporter.start(r.host);
    receiver.failNextEvents('logs', UNAVAILABLE, UNAVAILABLE);
    r.logs.next(logBatch([EXEC]));
    await receiver.waitForEventCalls('logs', 3);
    await r.exporter.events.logs?.idle();
    assert.deepEqual(
      receiver.logCalls.map((c) => c.answered),
      [UNAVAILABLE, UNAVAILABLE, 0],
    );
    for (const c of receiver.logCalls) assert.equal(logRecordsOf(c)[0]?.record.eventName, 'exec');
    const req = (result: string): number | undefined =>
      r.value('otlp_requests_total', { exporter: 'otlp/ev', signal: 'logs', result });
    assert.equal(req('retry'), 2);
    assert.equal(req('success'), 1);
    assert.equal(req('failure'), 0);
    assert.equal(r.value('exporter_sent_log_records_total', { exporter: 'otlp/ev' }), 1);
    assert.equal(
      r.value('exporter_dropped_log_records_total', { exporter: 'otlp/ev', reason: 'export_failed' }),
      0,
    );
    await r.exporter.shutdown();
  });

  it('gives up at once on a non-retryable code and counts the records as export_failed', async () => {
    await fresh();
    const r = rig(receiver.endpoint);
    await r.exporter.start(r.host);
    receiver.failNextEvents('traces', PERMISSION_DENIED);
    r.spans.next(spanBatch([ROOT, CHILD]));
    await receiver.waitForEventCalls('traces', 1);
    await r.exporter.events.traces?.idle();
    await delay(100);
    assert.equal(receiver.traceCalls.length, 1, 'not retried');
    assert.equal(
      r.value('exporter_dropped_spans_total', { exporter: 'otlp/ev', reason: 'export_failed' }),
      2,
    );
    assert.equal(r.value('exporter_sent_spans_total', { exporter: 'otlp/ev' }), 0);
    await r.exporter.shutdown();
  });

  it('counts records the receiver rejects (partial success) as dropped, the rest as sent', async () => {
    await fresh();
    const r = rig(receiver.endpoint);
    await r.exporter.start(r.host);
    receiver.rejectNext('traces', 1, 'span too old');
    r.spans.next(spanBatch([ROOT, CHILD, span(7)]));
    await receiver.waitForEventCalls('traces', 1);
    await r.exporter.events.traces?.idle();
    assert.equal(r.value('exporter_dropped_spans_total', { exporter: 'otlp/ev', reason: 'rejected' }), 1);
    assert.equal(r.value('exporter_sent_spans_total', { exporter: 'otlp/ev' }), 2);
    await r.exporter.shutdown();
  });

  it('a slow receiver: the queue stays bounded, the oldest are dropped and counted exactly', async () => {
    await fresh();
    const r = rig(receiver.endpoint, {
      sending_queue: { queue_size: 5, batch: { max_size: 2, flush_timeout: '10ms' } },
    });
    await r.exporter.start(r.host);
    receiver.hold('traces');
    r.spans.next(spanBatch([span(0), span(1)])); // a full batch: sent at once, held by the receiver
    await receiver.waitForEventCalls('traces', 1);
    // In flight: s0, s1. Queue (5): s2..s11 pushed → s2..s6 dropped, s7..s11 kept.
    r.spans.next(spanBatch(Array.from({ length: 10 }, (_, i) => span(i + 2))));
    assert.equal(r.value('exporter_dropped_spans_total', { exporter: 'otlp/ev', reason: 'queue_full' }), 5);
    assert.equal(
      r.telemetry.gauge('exporter_queue_size', '').value({ exporter: 'otlp/ev', signal: 'traces' }),
      5,
    );
    receiver.release('traces');
    await until(() => receiver.traceCalls.length >= 4, '4 trace calls');
    await r.exporter.events.traces?.idle();
    const names = receiver.traceCalls.flatMap((c) => spansOf(c).map((x) => x.span.name));
    assert.deepEqual(names, ['s0', 's1', 's7', 's8', 's9', 's10', 's11']);
    assert.equal(r.value('exporter_sent_spans_total', { exporter: 'otlp/ev' }), 7);
    assert.equal(
      r.telemetry.gauge('exporter_queue_size', '').value({ exporter: 'otlp/ev', signal: 'traces' }),
      0,
    );
    await r.exporter.shutdown();
  });

  it('sending_queue.num_consumers: that many requests in flight at once, and no more', async () => {
    await fresh();
    const r = rig(receiver.endpoint, {
      sending_queue: { num_consumers: 2, batch: { max_size: 1, flush_timeout: '1h' } },
    });
    await r.exporter.start(r.host);
    receiver.hold('traces');
    r.spans.next(spanBatch([span(0), span(1), span(2)])); // three full batches of one
    await receiver.waitForEventCalls('traces', 2);
    // Two requests held by the receiver; the third waits for a consumer.
    assert.equal(
      r.telemetry.gauge('exporter_queue_size', '').value({ exporter: 'otlp/ev', signal: 'traces' }),
      1,
    );
    assert.equal(receiver.traceCalls.length, 2);
    receiver.release('traces');
    await receiver.waitForEventCalls('traces', 3);
    await r.exporter.events.traces?.idle();
    const names = receiver.traceCalls.flatMap((c) => spansOf(c).map((x) => x.span.name));
    assert.deepEqual([...names].sort(), ['s0', 's1', 's2']);
    assert.equal(r.value('exporter_sent_spans_total', { exporter: 'otlp/ev' }), 3);
    await r.exporter.shutdown();
  });

  it('shutdown sends what is queued (a partial batch) and counts what it could not send', async () => {
    await fresh();
    const r = rig(receiver.endpoint, { sending_queue: { batch: { flush_timeout: '1h' } } });
    await r.exporter.start(r.host);
    r.logs.next(logBatch([EXEC, EXEC, EXEC]));
    await delay(50);
    assert.equal(receiver.logCalls.length, 0, 'partial batch waits for flush_timeout');
    await r.exporter.shutdown();
    assert.equal(receiver.logCalls.length, 1);
    assert.equal(logRecordsOf(receiver.logCalls[0]!).length, 3);
    assert.equal(r.value('exporter_sent_log_records_total', { exporter: 'otlp/ev' }), 3);

    // An unreachable receiver at shutdown: the records are counted, not lost silently.
    const dead = rig('127.0.0.1:1', { sending_queue: { batch: { flush_timeout: '1h' } }, timeout: '300ms' });
    await dead.exporter.start(dead.host);
    dead.spans.next(spanBatch([ROOT, CHILD]));
    await dead.exporter.shutdown();
    const shutdown = dead.value('exporter_dropped_spans_total', { exporter: 'otlp/ev', reason: 'shutdown' });
    assert.equal(shutdown, 2);
  });

  it('drops spans it cannot encode (bad ids) and counts them as invalid', async () => {
    await fresh();
    const r = rig(receiver.endpoint, { sending_queue: { batch: { flush_timeout: '10ms' } } });
    await r.exporter.start(r.host);
    r.spans.next(spanBatch([{ ...ROOT, traceId: 'xyz' }, { ...ROOT, spanId: '0000000000000000' }, CHILD]));
    await receiver.waitForEventCalls('traces', 1);
    await r.exporter.events.traces?.idle();
    assert.deepEqual(
      spansOf(receiver.traceCalls[0]!).map((x) => x.span.name),
      ['tcp_connect'],
    );
    assert.equal(r.value('exporter_dropped_spans_total', { exporter: 'otlp/ev', reason: 'invalid' }), 2);
    await r.exporter.shutdown();
  });
});

describe('otlp events helpers', () => {
  it('hrTime splits bigint nanoseconds exactly', () => {
    assert.deepEqual(hrTime(1_764_000_000_123_456_789n), [1_764_000_000, 123_456_789]);
    assert.deepEqual(hrTime(0n), [0, 0]);
  });
  it('spanProblem accepts valid ids and refuses bad ones', () => {
    assert.equal(spanProblem(ROOT), undefined);
    assert.match(spanProblem({ ...ROOT, traceId: ROOT.traceId.toUpperCase() }) ?? '', /trace id/);
    assert.match(spanProblem({ ...ROOT, parentSpanId: '12' }) ?? '', /parent/);
    assert.match(spanProblem({ ...ROOT, endTimeUnixNano: T0 - 1n }) ?? '', /ends before/);
  });
  it('BoundedQueue drops the oldest beyond capacity', () => {
    const q = new BoundedQueue<number>(3);
    const dropped: number[] = [];
    for (let i = 0; i < 5; i++) {
      const out = q.push(i);
      if (out !== undefined) dropped.push(out);
    }
    assert.deepEqual(dropped, [0, 1], 'the oldest, in order');
    assert.deepEqual(q.take(10), [2, 3, 4]);
    assert.equal(q.length, 0);
  });
});
