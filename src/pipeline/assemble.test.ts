import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { emptyResource } from '@opentelemetry/resources';
import { assemble, bucketBounds } from './assemble.ts';
import type { HistogramPoint, HistogramSpec, MetricBatch, RawFamily, RawPoint } from './data.ts';
import { toMetricData } from './otel.ts';

const final = (labels: Record<string, string>, value: number): RawPoint => ({
  labels: Object.entries(labels).map(([name, v]) => ({ name, value: v, pending: [] })),
  value,
});

test('counters: identical label sets from several keys are summed into one series', () => {
  const f: RawFamily = {
    name: 'c_total',
    help: 'h',
    kind: 'counter',
    startTimeMs: 1,
    points: [final({ comm: 'a' }, 1), final({ comm: 'b' }, 2), final({ comm: 'a' }, 4)],
  };
  const [out] = assemble([f]);
  assert.deepEqual(out?.points, [
    { labels: { comm: 'a' }, value: 5 },
    { labels: { comm: 'b' }, value: 2 },
  ]);
});

test('points whose labels are still pending are dropped and counted', () => {
  const stats = { undecoded: 0, badBuckets: 0 };
  const f: RawFamily = {
    name: 'c_total',
    help: 'h',
    kind: 'counter',
    startTimeMs: 1,
    points: [
      { labels: [{ name: 'function', value: new Uint8Array(8), pending: [{ name: 'ksym' }] }], value: 3 },
    ],
  };
  const [out] = assemble([f], stats);
  assert.equal(out?.points.length, 0);
  assert.equal(stats.undecoded, 1);
});

test('bucket bounds as ebpf_exporter computes them', () => {
  const spec = (
    t: HistogramSpec['bucketType'],
    min: number,
    max: number,
    m = 1,
    keys: number[] = [],
  ): HistogramSpec => ({
    bucketType: t,
    bucketMin: min,
    bucketMax: max,
    bucketMultiplier: m,
    bucketKeys: keys,
  });
  assert.deepEqual(bucketBounds(spec('exp2', 0, 3, 0.5)).bounds, [0.5, 1, 2, 4]);
  assert.deepEqual(bucketBounds(spec('exp2zero', 0, 3)).bounds, [0, 1, 2, 4]);
  assert.deepEqual(bucketBounds(spec('linear', 0, 3, 50)).bounds, [0, 50, 100, 150]);
  assert.deepEqual(bucketBounds(spec('fixed', 0, 0, 2, [1, 5, 10])).bounds, [2, 10, 20]);
});

test('histograms: backfilled buckets, sum from slot max+1 times multiplier, count over range, out-of-range ignored', () => {
  const f: RawFamily = {
    name: 'lat_seconds',
    help: 'h',
    kind: 'histogram',
    histogram: { bucketType: 'exp2', bucketMin: 0, bucketMax: 3, bucketMultiplier: 0.001, bucketKeys: [] },
    startTimeMs: 1,
    points: [
      final({ op: 'read', bucket: '1' }, 2),
      final({ op: 'read', bucket: '3' }, 5),
      final({ op: 'read', bucket: '4' }, 700), // sum slot
      final({ op: 'read', bucket: '9' }, 100), // outside: ignored
      final({ op: 'read', bucket: '1' }, 1), // same labels from another key: summed
    ],
  };
  const [out] = assemble([f]);
  assert.equal(out?.kind, 'histogram');
  const p = out?.points[0] as {
    labels: object;
    boundaries: number[];
    counts: number[];
    sum: number;
    count: number;
  };
  assert.deepEqual(p.labels, { op: 'read' });
  assert.deepEqual(p.boundaries, [0.001, 0.002, 0.004, 0.008]);
  assert.deepEqual(p.counts, [0, 3, 0, 5, 0]);
  assert.equal(p.count, 8);
  assert.ok(Math.abs(p.sum - 0.7) < 1e-12, String(p.sum));
});

const spec = (
  bucketType: HistogramSpec['bucketType'],
  bucketMin: number,
  bucketMax: number,
  bucketMultiplier = 1,
  bucketKeys: number[] = [],
): HistogramSpec => ({ bucketType, bucketMin, bucketMax, bucketMultiplier, bucketKeys });

/** One histogram family over `points` ([labels, bucket key, value]), assembled. */
function histogramOf(
  s: HistogramSpec,
  points: readonly (readonly [Record<string, string>, number, number])[],
): HistogramPoint[] {
  const f: RawFamily = {
    name: 'h',
    help: 'h',
    kind: 'histogram',
    histogram: s,
    startTimeMs: 1,
    points: points.map(([labels, bucket, value]) => final({ ...labels, bucket: String(bucket) }, value)),
  };
  const [out] = assemble([f]);
  assert.equal(out?.kind, 'histogram');
  return out.points as HistogramPoint[];
}

interface BucketCase {
  readonly title: string;
  readonly spec: HistogramSpec;
  readonly points: readonly (readonly [Record<string, string>, number, number])[];
  /** Per label set (in first-seen order): bounds, non-cumulative counts (+Inf last), sum, count. */
  readonly want: readonly Omit<HistogramPoint, 'labels'>[];
}

// Every expected value below is worked out by hand from ebpf_exporter's rules
// (reference §1.4): bounds per bucket type, sum slot = max+1 (fixed:
// last(bucket_keys)+1) times the multiplier, every bucket min..max present.
const bucketCases: BucketCase[] = [
  {
    title: 'exp2 from bucket_min 2: le 2^i*m, sum slot max+1 = 6, keys 0, 1 and 7 ignored',
    spec: spec('exp2', 2, 5, 10),
    points: [
      [{}, 0, 100], // below bucket_min: ignored
      [{}, 1, 100], // below bucket_min: ignored
      [{}, 2, 1],
      [{}, 5, 4],
      [{}, 6, 33], // sum slot: 33 * 10
      [{}, 7, 100], // beyond the sum slot: ignored
    ],
    want: [{ boundaries: [40, 80, 160, 320], counts: [1, 0, 0, 4, 0], sum: 330, count: 5 }],
  },
  {
    title: 'exp2zero: slot 0 is le 0, slot i is le 2^(i-1)*m; sum from slot max+1',
    spec: spec('exp2zero', 0, 4, 2),
    points: [
      [{}, 0, 7],
      [{}, 1, 1],
      [{}, 4, 2],
      [{}, 5, 9], // sum slot: 9 * 2
    ],
    want: [{ boundaries: [0, 2, 4, 8, 16], counts: [7, 1, 0, 0, 2, 0], sum: 18, count: 10 }],
  },
  {
    title: 'linear: le i*m from bucket_min, all backfilled when no bucket key exists (sum only)',
    spec: spec('linear', 1, 4, 5),
    points: [[{}, 5, 12]],
    want: [{ boundaries: [5, 10, 15, 20], counts: [0, 0, 0, 0, 0], sum: 60, count: 0 }],
  },
  {
    title: 'linear: counts and a missing sum slot give sum 0',
    spec: spec('linear', 0, 2, 1),
    points: [
      [{}, 0, 3],
      [{}, 2, 4],
    ],
    want: [{ boundaries: [0, 1, 2], counts: [3, 0, 4, 0], sum: 0, count: 7 }],
  },
  {
    title: 'fixed: le key*m for each bucket_keys entry, sum slot last+1 = 101, other keys ignored',
    spec: spec('fixed', 0, 0, 0.5, [1, 10, 100]),
    points: [
      [{}, 1, 2],
      [{}, 100, 3],
      [{}, 5, 50], // not one of bucket_keys: ignored
      [{}, 101, 40], // sum slot: 40 * 0.5
      [{}, 11, 60], // 10+1 is not the sum slot: ignored
    ],
    want: [{ boundaries: [0.5, 5, 50], counts: [2, 0, 3, 0], sum: 20, count: 5 }],
  },
  {
    title: 'several keys with identical label sets are summed, per bucket and in the sum',
    spec: spec('exp2', 0, 2, 1),
    points: [
      [{ dev: 'sda' }, 1, 1],
      [{ dev: 'sdb' }, 1, 10],
      [{ dev: 'sda' }, 1, 2],
      [{ dev: 'sda' }, 3, 5],
      [{ dev: 'sda' }, 3, 6],
      [{ dev: 'sdb' }, 0, 20],
    ],
    want: [
      { boundaries: [1, 2, 4], counts: [0, 3, 0, 0], sum: 11, count: 3 },
      { boundaries: [1, 2, 4], counts: [20, 10, 0, 0], sum: 0, count: 30 },
    ],
  },
];

for (const c of bucketCases) {
  test(`histogram buckets: ${c.title}`, () => {
    const got = histogramOf(c.spec, c.points).map(({ labels: _labels, ...rest }) => rest);
    assert.deepEqual(got, c.want);
  });
}

test('regression: the sum slots of one label set are added before scaling (1·m + 9·m ≠ 10·m in doubles)', () => {
  // Per-CPU maps and several keys give several sum-slot points; ebpf_exporter adds
  // them first, then multiplies: 10 * 0.001 = 0.01, not 0.001 + 0.009 = 0.010000000000000002.
  const [p] = histogramOf(spec('exp2', 0, 1, 0.001), [
    [{}, 2, 1],
    [{}, 2, 9],
  ]);
  assert.equal(p?.sum, 0.01);
});

test('histogram labels: the bucket label is dropped, the other labels stay in their order', () => {
  const [p] = histogramOf(spec('exp2', 0, 0), [[{ cpu: '1', op: 'w' }, 0, 1]]);
  assert.deepEqual(p?.labels, { cpu: '1', op: 'w' });
  assert.deepEqual(Object.keys(p?.labels ?? {}), ['cpu', 'op']);
});

test('histogram: a bucket label that is not an integer is dropped and counted', () => {
  const stats = { undecoded: 0, badBuckets: 0 };
  const f: RawFamily = {
    name: 'h',
    help: 'h',
    kind: 'histogram',
    histogram: spec('exp2', 0, 1),
    startTimeMs: 1,
    points: [final({ bucket: 'x' }, 1), final({ bucket: '-1' }, 1), final({ bucket: '1' }, 2)],
  };
  const [out] = assemble([f], stats);
  assert.deepEqual((out?.points[0] as HistogramPoint).counts, [0, 2, 0]);
  assert.equal(stats.badBuckets, 2);
});

/** Prometheus text for hand-made batches, through the same serializer the prometheus exporter uses. */
function exposition(batch: MetricBatch): string {
  const serializer = new PrometheusSerializer('ebpf_exporter', false, undefined, true, true);
  return serializer.serialize({
    resource: emptyResource(),
    scopeMetrics: [{ scope: { name: 'test' }, metrics: toMetricData(assemble(batch.families), 2000) }],
  });
}

test('exposition: exp2zero and linear histograms as Prometheus text', () => {
  const batch: MetricBatch = {
    source: 'ebpf/test',
    config: 'test',
    timeMs: 2000,
    families: [
      {
        name: 'backlog',
        help: 'Accept backlog',
        kind: 'histogram',
        histogram: spec('exp2zero', 0, 3),
        startTimeMs: 1000,
        points: [
          final({ port: '80', bucket: '0' }, 5),
          final({ port: '80', bucket: '2' }, 2),
          final({ port: '80', bucket: '4' }, 3), // sum slot
        ],
      },
      {
        name: 'queue_seconds',
        help: 'Queue time',
        kind: 'histogram',
        histogram: spec('linear', 1, 3, 0.5),
        startTimeMs: 1000,
        points: [
          final({ bucket: '1' }, 1),
          final({ bucket: '3' }, 2),
          final({ bucket: '4' }, 7), // sum slot: 7 * 0.5
        ],
      },
    ],
  };
  assert.equal(
    exposition(batch),
    [
      '# HELP ebpf_exporter_backlog Accept backlog',
      '# TYPE ebpf_exporter_backlog histogram',
      'ebpf_exporter_backlog_count{port="80"} 7',
      'ebpf_exporter_backlog_sum{port="80"} 3',
      'ebpf_exporter_backlog_bucket{port="80",le="0"} 5',
      'ebpf_exporter_backlog_bucket{port="80",le="1"} 5',
      'ebpf_exporter_backlog_bucket{port="80",le="2"} 7',
      'ebpf_exporter_backlog_bucket{port="80",le="4"} 7',
      'ebpf_exporter_backlog_bucket{port="80",le="+Inf"} 7',
      '# HELP ebpf_exporter_queue_seconds Queue time',
      '# TYPE ebpf_exporter_queue_seconds histogram',
      'ebpf_exporter_queue_seconds_count 3',
      'ebpf_exporter_queue_seconds_sum 3.5',
      'ebpf_exporter_queue_seconds_bucket{le="0.5"} 1',
      'ebpf_exporter_queue_seconds_bucket{le="1"} 1',
      'ebpf_exporter_queue_seconds_bucket{le="1.5"} 3',
      'ebpf_exporter_queue_seconds_bucket{le="+Inf"} 3',
      '',
    ].join('\n'),
  );
});

test('regression: label sets that differ in names but not values stay separate series', () => {
  const f: RawFamily = {
    name: 'c_total',
    help: 'h',
    kind: 'counter',
    startTimeMs: 1,
    points: [final({ a: 'x' }, 1), final({ b: 'x' }, 2)],
  };
  const [out] = assemble([f]);
  assert.equal(out?.points.length, 2);
});
