/**
 * otlphttp against a real OTLP/HTTP receiver (test/helpers/otlp-receiver.ts: node:http(s)
 * taking http/protobuf POSTs on /v1/metrics, /v1/traces, /v1/logs, decoded independently
 * of the serializer that encoded them).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { Subject } from 'rxjs';
import type { Host } from '../../pipeline/component.ts';
import type { LogBatch, MetricBatch, RawFamily, SpanBatch, SpanRecord } from '../../pipeline/data.ts';
import { SelfTelemetry } from '../../pipeline/telemetry.ts';
import { CollectorErrors } from '../../errors.ts';
import {
  attributesOf,
  logRecordsOf,
  spansOf,
  startOtlpReceiver,
  type OtlpReceiver,
} from '../../../test/helpers/otlp-receiver.ts';
import { OtlpExporter } from '../otlp/otlp.ts';
import { configSchema } from './config.ts';
import { otlpHttpExporterFactory } from './factory.ts';
import { testHost } from '../../../test/helpers/host.ts';

const logger = pino({ level: 'silent' });
const testdata = join(import.meta.dirname, '..', 'otlp', 'testdata');
const T0 = 1_764_000_000_123_456_789n;

const SPAN: SpanRecord = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  name: 'getpgid',
  startTimeUnixNano: T0,
  endTimeUnixNano: T0 + 1_000_000n,
  attributes: { seq: '1' },
};

function counterFamily(value = 5): RawFamily {
  return {
    name: 'timer_starts_total',
    help: 'Timers started',
    kind: 'counter',
    startTimeMs: 1_700_000_000_123,
    points: [{ labels: [{ name: 'function', value: 'tick_sched_timer', pending: [] }], value }],
  };
}

interface Rig {
  exporter: OtlpExporter;
  host: Host;
  metrics: Subject<MetricBatch>;
  spans: Subject<SpanBatch>;
  logs: Subject<LogBatch>;
  value(name: string, labels: Record<string, string>): number | undefined;
}

/** Every exporter a test made: shut down after the file, so a failed assertion cannot leave its timers running. */
const made: OtlpExporter[] = [];
after(async () => {
  for (const e of made) await e.shutdown();
});

async function rig(config: Record<string, unknown>, configDir = '.'): Promise<Rig> {
  const parsed = configSchema.parse({
    interval: '1h',
    timeout: '2s',
    retry_on_failure: { initial_interval: '20ms', max_interval: '50ms' },
    sending_queue: { batch: { flush_timeout: '10ms' } },
    ...config,
  });
  const exporter = (await otlpHttpExporterFactory.create(
    { id: 'otlphttp', logger, configDir },
    parsed,
  )) as OtlpExporter;
  made.push(exporter);
  const telemetry = new SelfTelemetry();
  const host = testHost({ logger, telemetry });
  const metrics = new Subject<MetricBatch>();
  const spans = new Subject<SpanBatch>();
  const logs = new Subject<LogBatch>();
  exporter.consume(metrics);
  exporter.consumeSpans(spans);
  exporter.consumeLogs(logs);
  await exporter.start(host);
  return { exporter, host, metrics, spans, logs, value: (n, l) => telemetry.counter(n, '').value(l) };
}

const metricBatch = (value = 5): MetricBatch => ({
  source: 'ebpf/timers',
  config: 'timers',
  timeMs: Date.now(),
  families: [counterFamily(value)],
});
const spanBatch = (spans: SpanRecord[]): SpanBatch => ({ source: 'ebpf/t', config: 't', spans });

describe('otlphttp exporter against a real OTLP/HTTP receiver', () => {
  let receiver: OtlpReceiver;
  before(async () => {
    receiver = await startOtlpReceiver();
  });
  after(async () => {
    await receiver.close();
  });
  async function fresh(): Promise<void> {
    await receiver.close();
    receiver = await startOtlpReceiver();
  }

  it('metrics, spans and log records go to /v1/<signal> as gzip protobuf, with the headers', async () => {
    await fresh();
    const r = await rig({ endpoint: receiver.httpUrl, headers: { 'x-scope-orgid': 'node-team' } });
    r.metrics.next(metricBatch(41));
    await r.exporter.metrics?.tick();
    r.spans.next(spanBatch([SPAN]));
    r.logs.next({
      source: 'ebpf/exec',
      config: 'exec',
      records: [
        {
          timeUnixNano: T0,
          observedTimeUnixNano: T0 + 1n,
          body: 'exec /usr/bin/true',
          attributes: { pid: 31337 },
        },
      ],
    });
    const [call] = await receiver.waitForCalls(1);
    await receiver.waitForEventCalls('traces', 1);
    await receiver.waitForEventCalls('logs', 1);
    assert.ok(call);
    assert.equal(call.metadata['content-type'], 'application/x-protobuf');
    assert.equal(call.metadata['content-encoding'], 'gzip');
    assert.equal(call.metadata['x-scope-orgid'], 'node-team');
    const m = receiver.metricsOf(call).find((x) => x.name === 'timer_starts_total');
    assert.equal(m?.sum?.dataPoints?.[0]?.asInt, '41');
    assert.deepEqual(attributesOf(m?.sum?.dataPoints?.[0]?.attributes), { function: 'tick_sched_timer' });
    const [span] = spansOf(receiver.traceCalls[0] as (typeof receiver.traceCalls)[number]);
    assert.equal(span?.span.traceId, SPAN.traceId);
    assert.equal(span?.span.startTimeUnixNano, T0.toString());
    assert.deepEqual(span?.resource['service.name'], { s: 'ebpf-collector' });
    const [log] = logRecordsOf(receiver.logCalls[0] as (typeof receiver.logCalls)[number]);
    assert.equal(log?.record.body?.stringValue, 'exec /usr/bin/true');
    await r.exporter.events.traces?.idle();
    assert.equal(r.value('exporter_sent_spans_total', { exporter: 'otlphttp' }), 1);
    await r.exporter.shutdown();
  });

  it('a partial success counts the rejected spans as dropped, the rest as sent', async () => {
    await fresh();
    const r = await rig({ endpoint: receiver.httpUrl, compression: 'none' });
    receiver.rejectNext('traces', 1, 'span too old');
    r.spans.next(spanBatch([SPAN, { ...SPAN, spanId: '00f067aa0ba902b7' }]));
    await receiver.waitForEventCalls('traces', 1);
    await r.exporter.events.traces?.idle();
    assert.equal(receiver.traceCalls[0]?.metadata['content-encoding'], undefined);
    assert.equal(r.value('exporter_sent_spans_total', { exporter: 'otlphttp' }), 1);
    assert.equal(r.value('exporter_dropped_spans_total', { exporter: 'otlphttp', reason: 'rejected' }), 1);
    await r.exporter.shutdown();
  });

  it('503 and 429 with Retry-After: the wait it asks for replaces a 10-minute backoff', async () => {
    await fresh();
    const r = await rig({
      endpoint: receiver.httpUrl,
      retry_on_failure: { initial_interval: '10m', max_interval: '10m' },
    });
    receiver.failNextHttp('traces', { status: 503, retryAfter: '0' }, { status: 429, retryAfter: '1' });
    r.spans.next(spanBatch([SPAN]));
    await receiver.waitForEventCalls('traces', 3);
    await r.exporter.events.traces?.idle();
    assert.deepEqual(
      receiver.traceCalls.map((c) => c.answered),
      [503, 429, 0],
    );
    assert.equal(r.value('exporter_sent_spans_total', { exporter: 'otlphttp' }), 1);
    assert.equal(
      r.value('otlp_requests_total', { exporter: 'otlphttp', signal: 'traces', result: 'retry' }),
      2,
    );
    await r.exporter.shutdown();
  });

  it('metrics: 502 is retried; 400 is not (one call, a failure)', async () => {
    await fresh();
    const r = await rig({ endpoint: receiver.httpUrl });
    const exports = (result: string): number | undefined =>
      r.value('otlp_requests_total', { exporter: 'otlphttp', signal: 'metrics', result });
    receiver.failNextHttp('metrics', 502);
    r.metrics.next(metricBatch());
    await r.exporter.metrics?.tick();
    await receiver.waitForCalls(2);
    await r.exporter.metrics?.idle();
    assert.equal(exports('retry'), 1);
    assert.equal(exports('success'), 1);
    receiver.failNextHttp('metrics', 400);
    await r.exporter.metrics?.tick();
    await receiver.waitForCalls(3);
    await r.exporter.metrics?.idle();
    await delay(150); // several retry intervals: no retry comes
    assert.equal(receiver.calls.length, 3);
    assert.equal(exports('failure'), 1);
    await r.exporter.shutdown();
  });

  it('retry_on_failure.enabled: false makes one attempt', async () => {
    await fresh();
    const r = await rig({ endpoint: receiver.httpUrl, retry_on_failure: { enabled: false } });
    receiver.failNextHttp('traces', 503);
    r.spans.next(spanBatch([SPAN]));
    await receiver.waitForEventCalls('traces', 1);
    await r.exporter.events.traces?.idle();
    assert.equal(receiver.traceCalls.length, 1);
    assert.equal(
      r.value('exporter_dropped_spans_total', { exporter: 'otlphttp', reason: 'export_failed' }),
      1,
    );
    await r.exporter.shutdown();
  });

  it('a signal without a URL: the exporter cannot start in its pipeline, and says which key to give', async () => {
    const config = configSchema.parse({ traces_endpoint: `${receiver.httpUrl}/v1/traces` });
    const e = (await otlpHttpExporterFactory.create(
      { id: 'otlphttp/t', logger, configDir: '.' },
      config,
    )) as OtlpExporter;
    e.consume(new Subject<MetricBatch>());
    const host = testHost({ logger });
    await assert.rejects(
      e.start(host),
      (err: unknown) =>
        err instanceof CollectorErrors &&
        err.errors[0]?.format() ===
          'exporters.otlphttp/t.endpoint: the exporter is in a metrics pipeline but has no URL for it; give endpoint or metrics_endpoint [ERR_CONFIG_MISSING]',
    );
    await e.shutdown();
  });

  it('traces_endpoint overrides endpoint for spans', async () => {
    await fresh();
    const r = await rig({
      endpoint: 'http://127.0.0.1:1',
      traces_endpoint: `${receiver.httpUrl}/v1/traces`,
    });
    r.spans.next(spanBatch([SPAN]));
    await receiver.waitForEventCalls('traces', 1);
    await r.exporter.events.traces?.idle();
    assert.equal(r.value('exporter_sent_spans_total', { exporter: 'otlphttp' }), 1);
    await r.exporter.shutdown();
  });
});

describe('otlphttp exporter over TLS and without a receiver', () => {
  const tls = {
    cert: readFileSync(join(testdata, 'tls-cert.pem')),
    key: readFileSync(join(testdata, 'tls-key.pem')),
  };

  for (const [what, extra, delivered] of [
    ['ca_file trusts the self-signed server', { tls: { ca_file: 'tls-cert.pem' } }, true],
    ['insecure_skip_verify sends without ca_file', { tls: { insecure_skip_verify: true } }, true],
    ['without either the server is not trusted', {}, false],
  ] as const) {
    it(`https: ${what}`, async () => {
      const receiver = await startOtlpReceiver({ tls });
      try {
        const r = await rig(
          { endpoint: receiver.httpUrl, retry_on_failure: { enabled: false }, ...extra },
          testdata,
        );
        r.spans.next(spanBatch([SPAN]));
        await r.exporter.events.traces?.idle();
        const sent = r.value('exporter_sent_spans_total', { exporter: 'otlphttp' });
        assert.equal(sent, delivered ? 1 : 0);
        assert.equal(receiver.traceCalls.length, delivered ? 1 : 0);
        await r.exporter.shutdown();
      } finally {
        await receiver.close();
      }
    });
  }

  it('an unreachable endpoint is retried, counted as a failure, and nothing throws', async () => {
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const port = (s.address() as { port: number }).port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    const r = await rig({
      endpoint: `http://127.0.0.1:${port}`,
      // Long enough for a retry on a loaded machine (a refused connect took > 50 ms there).
      retry_on_failure: { initial_interval: '10ms', max_interval: '10ms', max_elapsed_time: '1s' },
    });
    r.spans.next(spanBatch([SPAN]));
    await r.exporter.events.traces?.idle();
    assert.ok(
      (r.value('otlp_requests_total', { exporter: 'otlphttp', signal: 'traces', result: 'retry' }) ?? 0) >= 1,
    );
    assert.equal(
      r.value('exporter_dropped_spans_total', { exporter: 'otlphttp', reason: 'export_failed' }),
      1,
    );
    await r.exporter.shutdown();
  });
});
