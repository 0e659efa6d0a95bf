import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble, bucketBounds } from './assemble.ts';
import type { HistogramSpec, RawFamily, RawPoint } from './data.ts';

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
