/** The otlp exporter's metrics: resources, exponential histograms, counter resets, a receiver that goes away. */
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  attributesOf,
  startOtlpReceiver,
  TEMPORALITY,
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
  nanos,
  rig,
  UNAVAILABLE,
} from '../../../test/helpers/otlp-metrics-rig.ts';
import { until } from '../../../test/helpers/until.ts';
import type { RawFamily, RawPoint } from '../../pipeline/data.ts';

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
      await until(() => (r.count('retry') ?? 0) >= 3, 'retries while the receiver is down');
      assert.equal(r.count('failure'), 0, 'still retrying, not given up');
      // Ten collections, at most one being sent and one waiting: at least eight were superseded.
      const perCollection = pointsOf(receiver.calls[0]);
      assert.ok(r.dropped('superseded') >= 8 * perCollection, `dropped ${r.dropped('superseded')}`);
      const first = receiver;

      receiver = await startOtlpReceiver({ port });
      const [call] = await receiver.waitForCalls(1, 5_000);
      assert.ok(call);
      await r.exporter.idle();
      assert.equal(counterValue(call), '12', 'the newest collection arrived after the restart');
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
