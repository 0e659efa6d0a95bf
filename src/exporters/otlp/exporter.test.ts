import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { Subject } from 'rxjs';
import type { Host } from '../../pipeline/component.ts';
import type { MetricBatch, RawFamily, RawPoint } from '../../pipeline/data.ts';
import { SelfTelemetry } from '../../pipeline/telemetry.ts';
import {
  attributesOf,
  startOtlpReceiver,
  TEMPORALITY,
  type OtlpMetric,
  type OtlpReceiver,
  pointsOf,
} from '../../../test/helpers/otlp-receiver.ts';
import { configSchema } from './config.ts';
import { OtlpMetricsExporter } from './exporter.ts';
import { channelCredentials } from './tls.ts';
import { grpcWire } from './transport.ts';

const UNAVAILABLE = 14;
const INVALID_ARGUMENT = 3;

const final = (labels: Record<string, string>, value: number): RawPoint => ({
  labels: Object.entries(labels).map(([name, v]) => ({ name, value: v, pending: [] })),
  value,
});

// Attach times with sub-second parts, to see the nanoseconds arrive exactly.
const COUNTER_START_MS = 1_700_000_000_123;
const HIST_START_MS = 1_700_000_100_456;

function counterFamily(value = 5): RawFamily {
  return {
    name: 'timer_starts_total',
    help: 'Timers started',
    kind: 'counter',
    startTimeMs: COUNTER_START_MS,
    points: [
      final({ function: 'tick_sched_timer' }, value),
      // Larger than 32 bits: must travel as an exact int64.
      final({ function: 'hrtimer_wakeup' }, 2 ** 40 + 7),
      final({ function: 'tick_sched_timer' }, 1), // same label set: summed
    ],
  };
}

/** exp2 buckets 0..3 → bounds 1, 2, 4, 8 (+Inf); bucket key 4 carries the sum. */
function histogramFamily(): RawFamily {
  const b = (disk: string, bucket: number, value: number): RawPoint =>
    final({ disk, bucket: String(bucket) }, value);
  return {
    name: 'bio_latency_seconds',
    help: 'Block I/O latency',
    kind: 'histogram',
    histogram: { bucketType: 'exp2', bucketMin: 0, bucketMax: 3, bucketMultiplier: 1, bucketKeys: [] },
    startTimeMs: HIST_START_MS,
    points: [b('sda', 0, 1), b('sda', 1, 2), b('sda', 3, 4), b('sda', 4, 50)],
  };
}

function batch(families: RawFamily[], source = 'ebpf/timers'): MetricBatch {
  return { source, config: 'timers', timeMs: Date.now(), families };
}

interface TestHost extends Host {
  pulls: number;
  pull: () => Promise<void>;
}

interface Rig {
  exporter: OtlpMetricsExporter;
  host: TestHost;
  telemetry: SelfTelemetry;
  input: Subject<MetricBatch>;
  count(result: 'success' | 'retry' | 'failure'): number | undefined;
  /** Data points dropped, for one reason or all. */
  dropped(reason?: string): number;
  /**
   * Every data point collected was sent or dropped (nothing in flight: after idle), and the
   * points sent are those the receivers accepted.
   */
  accounted(...receivers: OtlpReceiver[]): void;
}

const DROP_REASONS = ['superseded', 'export_failed', 'rejected', 'shutdown', 'invalid'];

const logger = pino({ level: 'silent' });

function rig(endpoint: string, extra: Record<string, unknown> = {}, id = 'otlp'): Rig {
  const config = configSchema.parse({
    endpoint: `http://${endpoint}`,
    interval: '1h', // tests drive collections with tick() unless they test the timer
    timeout: '2s',
    retry_on_failure: { initial_interval: '20ms', max_interval: '50ms' },
    ...extra,
  });
  const exporter = new OtlpMetricsExporter(
    id,
    config,
    grpcWire(config, channelCredentials(config, '.', 'exporters.otlp')),
    logger,
  );
  const telemetry = new SelfTelemetry();
  const host: TestHost = {
    logger,
    telemetry,
    pulls: 0,
    pull: async () => {
      host.pulls++;
    },
    ready: () => true,
  };
  const input = new Subject<MetricBatch>();
  exporter.consume(input);
  const dropped = (reason?: string): number =>
    (reason ? [reason] : DROP_REASONS).reduce(
      (n, why) =>
        n +
        (telemetry.counter('exporter_dropped_metric_points_total', '').value({ exporter: id, reason: why }) ??
          0),
      0,
    );
  return {
    exporter,
    host,
    telemetry,
    input,
    count: (result) =>
      telemetry.counter('otlp_requests_total', '').value({ exporter: id, signal: 'metrics', result }),
    dropped,
    accounted(...receivers) {
      const sent = telemetry.counter('exporter_sent_metric_points_total', '').value({ exporter: id }) ?? 0;
      assert.equal(exporter.produced, sent + dropped(), 'points collected = sent + dropped');
      const delivered = receivers
        .flatMap((rc) => rc.calls)
        .filter((c) => c.answered === 0)
        .reduce((n, c) => n + pointsOf(c), 0);
      assert.equal(sent, delivered, 'points counted as sent = points the receivers accepted');
    },
  };
}

function byName(metrics: OtlpMetric[], name: string): OtlpMetric {
  const m = metrics.find((x) => x.name === name);
  assert.ok(m, `metric ${name} not in ${metrics.map((x) => x.name).join(', ')}`);
  return m;
}

const nanos = (ms: number): string => (BigInt(ms) * 1_000_000n).toString();

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

describe('otlp exporter against a real OTLP/gRPC receiver', () => {
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

  it('sends a counter and a histogram: names, attributes, int values, cumulative, start = attach time', async () => {
    await fresh();
    const r = rig(receiver.endpoint, {
      headers: { 'x-scope-orgid': 'node-team', authorization: 'Bearer t0k' },
    });
    await r.exporter.start(r.host);
    r.input.next(batch([counterFamily(), histogramFamily()]));
    const before = Date.now();
    await r.exporter.tick();
    const [call] = await receiver.waitForCalls(1);
    assert.ok(call);
    assert.equal(r.host.pulls, 1, 'pulled fresh map data before the export');

    const metrics = receiver.metricsOf(call);
    const counter = byName(metrics, 'timer_starts_total');
    assert.equal(counter.description, 'Timers started');
    assert.equal(counter.sum?.aggregationTemporality, TEMPORALITY.CUMULATIVE);
    assert.equal(counter.sum?.isMonotonic, true);
    const points = (counter.sum?.dataPoints ?? []).map((p) => ({
      attrs: attributesOf(p.attributes),
      asInt: p.asInt,
      asDouble: p.asDouble,
      start: p.startTimeUnixNano,
    }));
    assert.deepEqual(points, [
      {
        attrs: { function: 'tick_sched_timer' },
        asInt: '6',
        asDouble: undefined,
        start: nanos(COUNTER_START_MS),
      },
      {
        attrs: { function: 'hrtimer_wakeup' },
        asInt: String(2 ** 40 + 7),
        asDouble: undefined,
        start: nanos(COUNTER_START_MS),
      },
    ]);
    const t = BigInt(counter.sum?.dataPoints?.[0]?.timeUnixNano ?? '0') / 1_000_000n;
    assert.ok(t >= BigInt(before) - 1n && t <= BigInt(Date.now()), 'time = collection time');

    const hist = byName(metrics, 'bio_latency_seconds');
    assert.equal(hist.histogram?.aggregationTemporality, TEMPORALITY.CUMULATIVE);
    const [hp] = hist.histogram?.dataPoints ?? [];
    assert.ok(hp);
    assert.deepEqual(attributesOf(hp.attributes), { disk: 'sda' });
    assert.deepEqual(hp.explicitBounds, [1, 2, 4, 8]);
    assert.deepEqual(hp.bucketCounts, ['1', '2', '0', '4', '0']);
    assert.equal(hp.count, '7');
    assert.equal(hp.sum, 50);
    assert.equal(hp.startTimeUnixNano, nanos(HIST_START_MS));

    // The agent's own metrics travel too, and the resource names the agent.
    const self = byName(metrics, 'otlp_requests_total');
    assert.ok(
      self.sum?.dataPoints?.some(
        (p) =>
          attributesOf(p.attributes)['result'] === 'success' &&
          attributesOf(p.attributes)['signal'] === 'metrics',
      ),
    );
    assert.equal(
      attributesOf(call.request.resourceMetrics?.[0]?.resource?.attributes)['service.name'],
      'ebpf-collector',
    );

    // Headers arrive as gRPC metadata.
    assert.equal(call.metadata['x-scope-orgid'], 'node-team');
    assert.equal(call.metadata['authorization'], 'Bearer t0k');
    assert.match(call.metadata['user-agent'] ?? '', /^ebpf-collector\/\d+\.\d+\.\d+ grpc-node-js\//);

    await r.exporter.idle();
    assert.equal(r.count('success'), 1);
    assert.equal(r.count('failure'), 0);
    await r.exporter.shutdown();
  });

  it('compresses with gzip by default, and not with compression: none', async () => {
    // A label-heavy payload, as kernel metrics are.
    const many: RawFamily = {
      name: 'syscalls_total',
      help: 'h',
      kind: 'counter',
      startTimeMs: COUNTER_START_MS,
      points: Array.from({ length: 400 }, (_, i) =>
        final({ comm: `kworker/u16:${i % 7}`, syscall: `syscall_number_${i}`, container: 'a'.repeat(40) }, i),
      ),
    };
    const wire: Record<string, { wire: number; protobuf: number }> = {};
    for (const compression of ['gzip', 'none'] as const) {
      await fresh();
      const r = rig(receiver.endpoint, compression === 'gzip' ? {} : { compression });
      await r.exporter.start(r.host);
      r.input.next(batch([many]));
      await r.exporter.tick();
      const [call] = await receiver.waitForCalls(1);
      await r.exporter.shutdown();
      wire[compression] = { wire: receiver.wireBytesIn(), protobuf: call?.bytes ?? 0 };
    }
    const gz = wire['gzip'] as { wire: number; protobuf: number };
    const plain = wire['none'] as { wire: number; protobuf: number };
    assert.ok(gz.protobuf > 20_000, `payload ${gz.protobuf} bytes`);
    assert.ok(gz.wire < gz.protobuf / 3, `gzip: ${gz.wire} bytes on the wire for ${gz.protobuf} of protobuf`);
    assert.ok(plain.wire > plain.protobuf, `none: ${plain.wire} bytes on the wire for ${plain.protobuf}`);
  });

  it('pushes on the interval by itself', async () => {
    await fresh();
    const r = rig(receiver.endpoint, { interval: '100ms' });
    await r.exporter.start(r.host);
    r.input.next(batch([counterFamily()]));
    await receiver.waitForCalls(2, 3_000);
    assert.ok(r.host.pulls >= 2);
    await r.exporter.shutdown();
  });

  it('retries UNAVAILABLE with backoff until the data arrives', async () => {
    await fresh();
    const r = rig(receiver.endpoint);
    await r.exporter.start(r.host);
    receiver.failNext(UNAVAILABLE, UNAVAILABLE);
    r.input.next(batch([counterFamily()]));
    await r.exporter.tick();
    const calls = await receiver.waitForCalls(3);
    await r.exporter.idle();
    assert.deepEqual(
      calls.map((c) => c.answered),
      [UNAVAILABLE, UNAVAILABLE, 0],
    );
    const last = calls[2];
    assert.ok(last);
    assert.ok(
      receiver.metricsOf(last).some((m) => m.name === 'timer_starts_total'),
      'the data arrived',
    );
    assert.equal(r.count('retry'), 2);
    assert.equal(r.count('success'), 1);
    assert.equal(r.count('failure'), 0);
    assert.equal(r.dropped(), 0);
    r.accounted(receiver);
    await r.exporter.shutdown();
  });

  it('a retry sends the newest collection; the superseded one is counted as dropped', async () => {
    await fresh();
    const r = rig(receiver.endpoint, {
      retry_on_failure: { initial_interval: '300ms', max_interval: '300ms' },
    });
    await r.exporter.start(r.host);
    receiver.failNext(UNAVAILABLE);
    r.input.next(batch([counterFamily(5)]));
    await r.exporter.tick();
    await receiver.waitForCalls(1);
    // During the backoff wait a newer collection comes in.
    r.input.next(batch([counterFamily(100)]));
    await r.exporter.tick();
    const calls = await receiver.waitForCalls(2);
    await r.exporter.idle();
    const value = (i: number): string | undefined =>
      byName(receiver.metricsOf(calls[i] as (typeof calls)[number]), 'timer_starts_total').sum
        ?.dataPoints?.[0]?.asInt;
    assert.equal(value(0), '6');
    assert.equal(value(1), '101', 'the retry carried the newer data');
    await delay(100);
    assert.equal(receiver.calls.length, 2, 'the old collection is not sent after the new one');
    assert.equal(r.dropped('superseded'), pointsOf(calls[0]), 'the old collection, point by point');
    assert.ok(r.dropped() > 0);
    r.accounted(receiver);
    assert.equal(r.count('retry'), 1);
    assert.equal(r.count('success'), 1);
    await r.exporter.shutdown();
  });

  it('does not retry INVALID_ARGUMENT: one call, counted as a failure', async () => {
    await fresh();
    const r = rig(receiver.endpoint);
    await r.exporter.start(r.host);
    receiver.failNext(INVALID_ARGUMENT);
    r.input.next(batch([counterFamily()]));
    await r.exporter.tick();
    await receiver.waitForCalls(1);
    await r.exporter.idle();
    await delay(150); // longer than several retry intervals
    assert.equal(receiver.calls.length, 1);
    assert.equal(r.count('failure'), 1);
    assert.equal(r.count('retry'), 0);
    assert.equal(r.dropped('export_failed'), pointsOf(receiver.calls[0]));
    r.accounted(receiver);
    await r.exporter.shutdown();
  });

  it('retry_on_failure.enabled: false sends once', async () => {
    await fresh();
    const r = rig(receiver.endpoint, { retry_on_failure: { enabled: false } });
    await r.exporter.start(r.host);
    receiver.failNext(UNAVAILABLE);
    r.input.next(batch([counterFamily()]));
    await r.exporter.tick();
    await receiver.waitForCalls(1);
    await r.exporter.idle();
    assert.equal(receiver.calls.length, 1);
    assert.equal(r.count('failure'), 1);
    await r.exporter.shutdown();
  });

  it('max_elapsed_time bounds the retries: given up after it, long before the failures end', async (t) => {
    await fresh();
    const r = rig(receiver.endpoint, {
      retry_on_failure: { initial_interval: '20ms', max_interval: '20ms', max_elapsed_time: '100ms' },
    });
    await r.exporter.start(r.host);
    // A failed assertion must not leave the exporter running: it would keep the file from exiting.
    t.after(() => r.exporter.shutdown());
    receiver.failNext(...Array<number>(50).fill(UNAVAILABLE));
    r.input.next(batch([counterFamily()]));
    await r.exporter.tick();
    await waitFor(() => r.count('failure') === 1, 'the exporter to give up');
    await r.exporter.idle();
    // Each wait is at least 10ms (20ms ±50%), so 100ms allows at most 10 retries. No lower
    // bound: how many fit depends on how fast the receiver answers on a loaded machine (a first
    // call slower than 100ms leaves none); that retries happen at all is tested above.
    const retries = r.count('retry') ?? 0;
    assert.ok(retries <= 10, `retries ${retries}`);
    assert.equal(receiver.calls.length, retries + 1, 'every attempt reached the receiver');
    assert.equal(r.dropped('export_failed'), pointsOf(receiver.calls[0]));
    r.accounted(receiver);
  });

  it('max_elapsed_time: 0 never gives up (as the Collector): retries until the receiver answers', async () => {
    await fresh();
    const r = rig(receiver.endpoint, {
      retry_on_failure: { initial_interval: '1ms', max_interval: '2ms', max_elapsed_time: 0 },
    });
    await r.exporter.start(r.host);
    receiver.failNext(...Array<number>(30).fill(UNAVAILABLE));
    r.input.next(batch([counterFamily()]));
    await r.exporter.tick();
    await receiver.waitForCalls(31);
    await r.exporter.idle();
    assert.equal(r.count('retry'), 30);
    assert.equal(r.count('success'), 1);
    assert.equal(r.count('failure'), 0);
    await r.exporter.shutdown();
  });

  it('shutdown makes a final export of the latest data, then closes', async () => {
    await fresh();
    const r = rig(receiver.endpoint);
    await r.exporter.start(r.host);
    r.input.next(batch([counterFamily(41)]));
    await r.exporter.shutdown();
    assert.equal(receiver.calls.length, 1);
    assert.equal(
      byName(receiver.metricsOf(receiver.calls[0] as (typeof receiver.calls)[number]), 'timer_starts_total')
        .sum?.dataPoints?.[0]?.asInt,
      '42',
    );
    assert.equal(r.host.pulls, 0, 'no pull at shutdown: the receivers have stopped');
    await r.exporter.tick(); // after shutdown: nothing
    await delay(50);
    assert.equal(receiver.calls.length, 1);
  });

  it('a retry wait does not hold shutdown up', async () => {
    await fresh();
    const r = rig(receiver.endpoint, {
      retry_on_failure: { initial_interval: '30s', max_interval: '30s' },
    });
    await r.exporter.start(r.host);
    receiver.failNext(UNAVAILABLE, UNAVAILABLE);
    r.input.next(batch([counterFamily()]));
    await r.exporter.tick();
    await receiver.waitForCalls(1);
    await waitFor(() => r.count('retry') === 1, 'the retry to be scheduled');
    const t0 = Date.now();
    await r.exporter.shutdown();
    assert.ok(Date.now() - t0 < 1_000, `shutdown took ${Date.now() - t0}ms`);
    // The final attempt was made once, not retried.
    assert.equal(receiver.calls.length, 2);
    assert.equal(r.count('failure'), 1);
    assert.equal(r.dropped('superseded'), pointsOf(receiver.calls[0]), 'the collection being retried');
    assert.equal(r.dropped('shutdown'), pointsOf(receiver.calls[1]), 'the failed final one');
    r.accounted(receiver);
  });
});

describe('otlp exporter over TLS', () => {
  // testdata/tls-{cert,key}.pem: a self-signed test certificate for localhost and 127.0.0.1 (100 years):
  // openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 -subj /CN=localhost \
  //   -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout tls-key.pem -out tls-cert.pem
  const testdata = join(import.meta.dirname, 'testdata');
  const tls = {
    cert: readFileSync(join(testdata, 'tls-cert.pem')),
    key: readFileSync(join(testdata, 'tls-key.pem')),
  };

  function tlsRig(endpoint: string, extra: Record<string, unknown>): Rig {
    const config = configSchema.parse({ endpoint, interval: '1h', timeout: '2s', ...extra });
    const r = rig('127.0.0.1:1');
    const exporter = new OtlpMetricsExporter(
      'otlp',
      config,
      grpcWire(config, channelCredentials(config, testdata, 'exporters.otlp')),
      logger,
    );
    exporter.consume(r.input);
    return { ...r, exporter };
  }

  it('a host:port endpoint uses TLS; ca_file makes the server trusted', async () => {
    const receiver = await startOtlpReceiver({ tls });
    try {
      const port = receiver.endpoint.split(':')[1];
      const r = tlsRig(`localhost:${port}`, { tls: { ca_file: 'tls-cert.pem' } });
      await r.exporter.start(r.host);
      r.input.next(batch([counterFamily()]));
      await r.exporter.tick();
      const [call] = await receiver.waitForCalls(1);
      assert.ok(call && receiver.metricsOf(call).some((m) => m.name === 'timer_starts_total'));
      await r.exporter.idle();
      assert.equal(r.count('success'), 1);
      await r.exporter.shutdown();
    } finally {
      await receiver.close();
    }
  });

  it('tls.insecure_skip_verify: true sends to the self-signed server without ca_file', async () => {
    const receiver = await startOtlpReceiver({ tls });
    try {
      const port = receiver.endpoint.split(':')[1];
      // The certificate is signed by nobody the system trusts: only skipping verification lets it through.
      const r = tlsRig(`https://127.0.0.1:${port}`, {
        tls: { insecure_skip_verify: true },
        retry_on_failure: { enabled: false },
      });
      await r.exporter.start(r.host);
      r.input.next(batch([counterFamily()]));
      await r.exporter.tick();
      const [call] = await receiver.waitForCalls(1);
      assert.ok(call && receiver.metricsOf(call).some((m) => m.name === 'timer_starts_total'));
      await r.exporter.idle();
      assert.equal(r.count('success'), 1);
      await r.exporter.shutdown();
    } finally {
      await receiver.close();
    }
  });

  it('without ca_file the self-signed server is not trusted: counted as a failure, nothing received', async () => {
    const receiver = await startOtlpReceiver({ tls });
    try {
      const port = receiver.endpoint.split(':')[1];
      const r = tlsRig(`https://localhost:${port}`, { retry_on_failure: { enabled: false } });
      await r.exporter.start(r.host);
      r.input.next(batch([counterFamily()]));
      await r.exporter.tick();
      await r.exporter.idle();
      assert.equal(r.count('failure'), 1);
      assert.equal(receiver.calls.length, 0);
      assert.ok(receiver.wireBytesIn() > 0, 'it did connect');
      await r.exporter.shutdown();
    } finally {
      await receiver.close();
    }
  });
});

describe('otlp exporter without a receiver', () => {
  it('an unreachable endpoint is counted, nothing throws, shutdown returns in time', async () => {
    const port = await closedPort();
    const r = rig(`127.0.0.1:${port}`, {
      timeout: '500ms',
      retry_on_failure: { initial_interval: '20ms', max_interval: '40ms', max_elapsed_time: '200ms' },
    });
    await r.exporter.start(r.host);
    r.input.next(batch([counterFamily()]));
    await r.exporter.tick();
    await waitFor(() => r.count('failure') === 1, 'the export to give up');
    assert.ok((r.count('retry') ?? 0) >= 2, `retries: ${r.count('retry')}`);
    assert.equal(r.count('success'), 0);
    assert.ok(r.dropped('export_failed') > 0);
    assert.equal(r.dropped('export_failed'), r.exporter.produced, 'the whole collection, point by point');
    const t0 = Date.now();
    await r.exporter.shutdown();
    assert.ok(Date.now() - t0 < 700, `shutdown took ${Date.now() - t0}ms`);
  });

  it('a server that accepts but never answers: shutdown is bounded by timeout', async () => {
    const sockets = new Set<Socket>();
    const blackhole = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const port = (blackhole.address() as { port: number }).port;
    try {
      const r = rig(`127.0.0.1:${port}`, { timeout: '400ms' });
      await r.exporter.start(r.host);
      r.input.next(batch([counterFamily()]));
      await r.exporter.tick();
      const t0 = Date.now();
      await r.exporter.shutdown();
      const took = Date.now() - t0;
      assert.ok(took < 400 + 250, `shutdown took ${took}ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => blackhole.close(() => resolve()));
    }
  });

  it('shutdown is safe before start and twice', async () => {
    const r = rig('127.0.0.1:4317');
    await r.exporter.shutdown();
    await r.exporter.shutdown();
    await r.exporter.start(r.host); // after shutdown: does nothing
    await r.exporter.tick();
    assert.equal(r.host.pulls, 0);

    const s = rig(`127.0.0.1:${await closedPort()}`, { timeout: '300ms' });
    await s.exporter.start(s.host);
    await Promise.all([s.exporter.shutdown(), s.exporter.shutdown()]);
    await s.exporter.shutdown();
  });

  it('a failing pull still sends the last data read', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const r = rig(receiver.endpoint);
      r.host.pull = async () => {
        throw new Error('map read failed');
      };
      await r.exporter.start(r.host);
      r.input.next(batch([counterFamily()]));
      await r.exporter.tick();
      const [call] = await receiver.waitForCalls(1);
      assert.ok(call && receiver.metricsOf(call).some((m) => m.name === 'timer_starts_total'));
      await r.exporter.shutdown();
    } finally {
      await receiver.close();
    }
  });
});

describe('otlp exporter: resource, exponential histograms, a receiver that goes away', () => {
  /** linear buckets 1..3 (bounds 1, 2, 3): not powers of two, so always explicit. */
  function linearFamily(): RawFamily {
    const b = (bucket: number, value: number): RawPoint => final({ cpu: '0', bucket: String(bucket) }, value);
    return {
      name: 'runq_latency',
      help: 'linear',
      kind: 'histogram',
      histogram: { bucketType: 'linear', bucketMin: 1, bucketMax: 3, bucketMultiplier: 1, bucketKeys: [] },
      startTimeMs: HIST_START_MS,
      points: [b(1, 2), b(3, 1), b(4, 9)],
    };
  }

  it('resource attributes; histograms: exponential sends exp2 histograms at scale 0, others explicit', async () => {
    const receiver = await startOtlpReceiver();
    const r = rig(receiver.endpoint, { histograms: 'exponential' });
    const s = rig(receiver.endpoint, {}, 'otlp/second');
    try {
      await r.exporter.start(r.host);
      await s.exporter.start(s.host);
      r.input.next(batch([counterFamily(), histogramFamily(), linearFamily()]));
      await r.exporter.tick();
      await receiver.waitForCalls(1);
      s.input.next(batch([histogramFamily()]));
      await s.exporter.tick();
      const [call, second] = await receiver.waitForCalls(2);
      assert.ok(call && second);

      const resource = attributesOf(call.request.resourceMetrics?.[0]?.resource?.attributes);
      assert.equal(resource['service.name'], 'ebpf-collector');
      assert.equal(resource['host.name'], hostname());
      assert.match(
        resource['service.instance.id'] ?? '',
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      assert.deepEqual(
        attributesOf(second.request.resourceMetrics?.[0]?.resource?.attributes),
        resource,
        'one instance id per process',
      );

      const metrics = receiver.metricsOf(call);
      const counter = byName(metrics, 'timer_starts_total');
      assert.equal(counter.sum?.dataPoints?.[0]?.asInt, '6');

      // exp2 bounds 1, 2, 4, 8 with counts 1, 2, 0, 4 → scale 0, indexes -1..2.
      const exp = byName(metrics, 'bio_latency_seconds');
      assert.equal(exp.histogram, undefined);
      assert.equal(exp.exponentialHistogram?.aggregationTemporality, TEMPORALITY.CUMULATIVE);
      const [ep] = exp.exponentialHistogram?.dataPoints ?? [];
      assert.ok(ep);
      assert.deepEqual(attributesOf(ep.attributes), { disk: 'sda' });
      assert.equal(ep.scale ?? 0, 0);
      assert.equal(ep.count, '7');
      assert.equal(ep.sum, 50);
      assert.equal(ep.zeroCount ?? '0', '0');
      assert.equal(ep.positive?.offset, -1);
      assert.deepEqual(ep.positive?.bucketCounts, ['1', '2', '0', '4']);
      assert.equal(ep.startTimeUnixNano, nanos(HIST_START_MS));

      const linear = byName(metrics, 'runq_latency');
      assert.equal(linear.exponentialHistogram, undefined);
      assert.deepEqual(linear.histogram?.dataPoints?.[0]?.explicitBounds, [1, 2, 3]);
      assert.deepEqual(linear.histogram?.dataPoints?.[0]?.bucketCounts, ['2', '0', '1', '0']);

      // The default stays explicit.
      const explicit = byName(receiver.metricsOf(second), 'bio_latency_seconds');
      assert.deepEqual(explicit.histogram?.dataPoints?.[0]?.explicitBounds, [1, 2, 4, 8]);
    } finally {
      await r.exporter.shutdown();
      await s.exporter.shutdown();
      await receiver.close();
    }
  });

  it('a counter reset (map entry re-created) goes out with a new start time, never as a lower value on the old start', async () => {
    const receiver = await startOtlpReceiver();
    const r = rig(receiver.endpoint);
    try {
      await r.exporter.start(r.host);
      const first = batch([counterFamily(100)]);
      r.input.next(first);
      await r.exporter.tick();
      await receiver.waitForCalls(1);
      r.input.next(batch([counterFamily(3)])); // tick_sched_timer went from 101 to 4
      await r.exporter.tick();
      const calls = await receiver.waitForCalls(2);
      const point = (i: number, fn: string) =>
        byName(
          receiver.metricsOf(calls[i] as (typeof calls)[number]),
          'timer_starts_total',
        ).sum?.dataPoints?.find((p) => attributesOf(p.attributes)['function'] === fn);
      assert.equal(point(0, 'tick_sched_timer')?.startTimeUnixNano, nanos(COUNTER_START_MS));
      assert.equal(point(1, 'tick_sched_timer')?.asInt, '4');
      assert.equal(point(1, 'tick_sched_timer')?.startTimeUnixNano, nanos(first.timeMs));
      assert.equal(
        point(1, 'hrtimer_wakeup')?.startTimeUnixNano,
        nanos(COUNTER_START_MS),
        'others keep theirs',
      );
    } finally {
      await r.exporter.shutdown();
      await receiver.close();
    }
  });

  it('receiver down for a while, then back: retries, at most one collection waits, the rest are dropped, data arrives', async () => {
    let receiver = await startOtlpReceiver();
    const port = Number(receiver.endpoint.split(':')[1]);
    const r = rig(receiver.endpoint, {
      timeout: '300ms',
      retry_on_failure: { initial_interval: '30ms', max_interval: '60ms', max_elapsed_time: '1m' },
    });
    try {
      await r.exporter.start(r.host);
      r.input.next(batch([counterFamily(1)]));
      await r.exporter.tick();
      await receiver.waitForCalls(1);
      await r.exporter.idle();
      await receiver.close();

      // Down: ten collections while every attempt fails.
      for (let i = 2; i <= 11; i++) {
        r.input.next(batch([counterFamily(i)]));
        await r.exporter.tick();
        await delay(40);
      }
      await waitFor(() => (r.count('retry') ?? 0) >= 3, 'retries while the receiver is down');
      assert.equal(r.count('failure'), 0, 'still retrying, not given up');
      // Ten collections, at most one being sent and one waiting: at least eight were superseded.
      const perCollection = pointsOf(receiver.calls[0]);
      assert.ok(r.dropped('superseded') >= 8 * perCollection, `dropped ${r.dropped('superseded')}`);
      const first = receiver;

      receiver = await startOtlpReceiver({ port });
      const [call] = await receiver.waitForCalls(1, 5_000);
      assert.ok(call);
      await r.exporter.idle();
      const value = byName(receiver.metricsOf(call), 'timer_starts_total').sum?.dataPoints?.[0]?.asInt;
      assert.equal(value, '12', 'the newest collection arrived after the restart');
      await delay(150);
      assert.equal(receiver.calls.length, 1, 'no backlog was replayed');
      assert.equal(r.count('success'), 2);
      r.accounted(first, receiver);
    } finally {
      await r.exporter.shutdown();
      await receiver.close();
    }
  });
});

describe('otlp exporter: batch resources', () => {
  it('two sources with different resources arrive as two ResourceMetrics, each over the agent resource', async () => {
    const receiver = await startOtlpReceiver();
    const r = rig(receiver.endpoint);
    try {
      await r.exporter.start(r.host);
      r.input.next({
        ...batch([counterFamily()], 'ebpf/timers'),
        resource: { 'k8s.cluster.name': 'eu-1', 'service.name': 'kernel', 'service.instance.id': 'x' },
      });
      r.input.next({ ...batch([histogramFamily()], 'ebpf/bio'), resource: { 'k8s.cluster.name': 'us-2' } });
      // Equal attributes in another order: the same resource as the first.
      r.input.next({
        ...batch([], 'ebpf/empty'),
        resource: { 'service.instance.id': 'x', 'service.name': 'kernel', 'k8s.cluster.name': 'eu-1' },
      });
      await r.exporter.tick();
      await r.exporter.idle();
      const calls = await receiver.waitForCalls(3);
      assert.equal(
        calls.length,
        3,
        'one request per resource (the serializer takes one ResourceMetrics each)',
      );
      assert.equal(r.count('success'), 3, 'one per request');

      const seen = calls.map((call) => {
        const rms = call.request.resourceMetrics ?? [];
        assert.equal(rms.length, 1);
        return {
          resource: attributesOf(rms[0]?.resource?.attributes),
          metrics: receiver
            .metricsOf(call)
            .map((m) => m.name)
            .sort(),
        };
      });
      const instance = seen[0]?.resource['service.instance.id'];
      assert.match(instance ?? '', /^[0-9a-f-]{36}$/, 'service.instance.id stays the process one');
      assert.deepEqual(seen[0], {
        resource: {
          'service.name': 'kernel',
          'service.instance.id': instance,
          'host.name': hostname(),
          'k8s.cluster.name': 'eu-1',
        },
        metrics: ['timer_starts_total'],
      });
      assert.deepEqual(seen[1], {
        resource: {
          'service.name': 'ebpf-collector',
          'service.instance.id': instance,
          'host.name': hostname(),
          'k8s.cluster.name': 'us-2',
        },
        metrics: ['bio_latency_seconds'],
      });
      // Self-metrics travel under the agent's own resource.
      assert.deepEqual(seen[2]?.resource, {
        'service.name': 'ebpf-collector',
        'service.instance.id': instance,
        'host.name': hostname(),
      });
      assert.ok(seen[2]?.metrics.includes('receiver_data_points'));
    } finally {
      await r.exporter.shutdown();
      await receiver.close();
    }
  });

  it('a failing request is retried alone: the resources already delivered are not sent again', async () => {
    const receiver = await startOtlpReceiver();
    const r = rig(receiver.endpoint);
    try {
      await r.exporter.start(r.host);
      r.input.next({ ...batch([counterFamily()], 'ebpf/a'), resource: { zone: 'a' } });
      r.input.next({ ...batch([counterFamily()], 'ebpf/b'), resource: { zone: 'b' } });
      receiver.failNext(0, UNAVAILABLE); // first resource accepted, second refused
      await r.exporter.tick();
      await r.exporter.idle();
      const calls = await receiver.waitForCalls(4);
      const zones = calls.map(
        (c) => attributesOf(c.request.resourceMetrics?.[0]?.resource?.attributes)['zone'],
      );
      assert.deepEqual(zones, ['a', 'b', 'b', undefined]);
      assert.equal(r.count('retry'), 1);
      assert.equal(r.count('success'), 3, 'one per request delivered');
      r.accounted(receiver);
    } finally {
      await r.exporter.shutdown();
      await receiver.close();
    }
  });
});
