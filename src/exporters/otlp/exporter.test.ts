/** The otlp exporter's metrics against a real OTLP/gRPC receiver: what is sent, gzip, the timer, retry, shutdown. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  attributesOf,
  startOtlpReceiver,
  TEMPORALITY,
  type OtlpReceiver,
  pointsOf,
} from '../../../test/helpers/otlp-receiver.ts';
import {
  batch,
  byName,
  counterFamily,
  counterValue,
  COUNTER_START_MS,
  final,
  histogramFamily,
  HIST_START_MS,
  INVALID_ARGUMENT,
  nanos,
  rig,
  UNAVAILABLE,
} from '../../../test/helpers/otlp-metrics-rig.ts';
import { until } from '../../../test/helpers/until.ts';
import type { RawFamily } from '../../pipeline/data.ts';

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
    assert.equal(counterValue(calls[0]), '6');
    assert.equal(counterValue(calls[1]), '101', 'the retry carried the newer data');
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
    await until(() => r.count('failure') === 1, 'the exporter to give up');
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
    assert.equal(counterValue(receiver.calls[0]), '42');
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
    await until(() => r.count('retry') === 1, 'the retry to be scheduled');
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
