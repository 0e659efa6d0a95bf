import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from './assemble.ts';
import type { HistogramPoint, LabelSlot, RawFamily, RawPoint, ScalarPoint } from './data.ts';

/**
 * assemble remembers, per slot array (by identity), the exported labels object and key.
 * These check what must not change with it: sums, counts of undecoded / bad points on
 * every call, fresh values, and batches never mutated.
 */

const slots = (labels: Record<string, string>): LabelSlot[] =>
  Object.entries(labels).map(([name, value]) => ({ name, value, pending: [] }));

const counter = (points: RawPoint[]): RawFamily => ({
  name: 'c_total',
  help: 'h',
  kind: 'counter',
  startTimeMs: 1,
  points,
});

test('memo: the same slot arrays give the same labels objects on every call, values fresh', () => {
  const a = slots({ comm: 'a' });
  const b = slots({ comm: 'b' });
  const [one] = assemble([
    counter([
      { labels: a, value: 1 },
      { labels: b, value: 2 },
    ]),
  ]);
  const [two] = assemble([
    counter([
      { labels: a, value: 10 },
      { labels: b, value: 20 },
    ]),
  ]);
  assert.deepEqual(one?.points, [
    { labels: { comm: 'a' }, value: 1 },
    { labels: { comm: 'b' }, value: 2 },
  ]);
  assert.deepEqual(two?.points, [
    { labels: { comm: 'a' }, value: 10 },
    { labels: { comm: 'b' }, value: 20 },
  ]);
  assert.equal(two?.points[0]?.labels, one?.points[0]?.labels);
  // The first call's output is not changed by the second.
  assert.equal((one?.points[0] as ScalarPoint).value, 1);
});

test('memo: different slot arrays with the same labels are still summed, on every call and across families', () => {
  const x1 = slots({ fn: 'f', n: '1' });
  const x2 = slots({ fn: 'f', n: '1' });
  const y = slots({ fn: 'g', n: '1' });
  for (let round = 1; round <= 3; round++) {
    const out = assemble([
      counter([
        { labels: x1, value: round },
        { labels: y, value: 5 },
        { labels: x2, value: 100 },
        { labels: x1, value: 1000 },
      ]),
      {
        ...counter([
          { labels: x2, value: 7 },
          { labels: y, value: 8 },
        ]),
        name: 'd_total',
      },
    ]);
    assert.deepEqual(
      out.map((f) => f.points.map((p) => [p.labels, (p as ScalarPoint).value])),
      [
        [
          [{ fn: 'f', n: '1' }, round + 100 + 1000],
          [{ fn: 'g', n: '1' }, 5],
        ],
        [
          [{ fn: 'f', n: '1' }, 7],
          [{ fn: 'g', n: '1' }, 8],
        ],
      ],
    );
  }
  // Fresh arrays (an uncached source) that decode to labels seen before sum with them too.
  const [f] = assemble([
    counter([
      { labels: x1, value: 1 },
      { labels: slots({ fn: 'f', n: '1' }), value: 2 },
    ]),
  ]);
  assert.deepEqual(f?.points, [{ labels: { fn: 'f', n: '1' }, value: 3 }]);
});

test('memo: undecoded points and bad buckets are counted on every call', () => {
  const pending: LabelSlot[] = [{ name: 'function', value: new Uint8Array(8), pending: [{ name: 'ksym' }] }];
  const badBucket = [...slots({ d: 'x' }), { name: 'bucket', value: 'seven', pending: [] }];
  const stats = { undecoded: 0, badBuckets: 0 };
  for (let i = 0; i < 3; i++) {
    assemble([counter([{ labels: pending, value: 1 }])], stats);
    assemble(
      [
        {
          name: 'h',
          help: 'h',
          kind: 'histogram',
          startTimeMs: 0,
          histogram: {
            bucketType: 'linear',
            bucketMin: 0,
            bucketMax: 1,
            bucketMultiplier: 1,
            bucketKeys: [],
          },
          points: [
            { labels: badBucket, value: 1 },
            { labels: [...pending, { name: 'bucket', value: '0', pending: [] }], value: 1 },
          ],
        },
      ],
      stats,
    );
  }
  assert.deepEqual(stats, { undecoded: 6, badBuckets: 3 });
});

test('memo: histogram buckets of one label set group into one point on every call, counts fresh', () => {
  const spec = {
    bucketType: 'linear' as const,
    bucketMin: 0,
    bucketMax: 2,
    bucketMultiplier: 1,
    bucketKeys: [],
  };
  const b = (d: string, bucket: number): LabelSlot[] => [
    ...slots({ d }),
    { name: 'bucket', value: String(bucket), pending: [] },
  ];
  const arrays = [b('x', 0), b('y', 1), b('x', 2), b('x', 3)];
  for (let round = 1; round <= 2; round++) {
    const [h] = assemble([
      {
        name: 'h',
        help: 'h',
        kind: 'histogram',
        startTimeMs: 0,
        histogram: spec,
        points: arrays.map((labels, i) => ({ labels, value: round * (i + 1) })),
      },
    ]);
    const points = h?.points as HistogramPoint[];
    assert.deepEqual(
      points.map((p) => [p.labels, p.counts, p.sum, p.count]),
      [
        [{ d: 'x' }, [round, 0, 3 * round, 0], 4 * round, 4 * round],
        [{ d: 'y' }, [0, 2 * round, 0, 0], 0, 2 * round],
      ],
    );
  }
});
