import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble, type AssembleStats } from './assemble.ts';
import type { LabelSlot, RawFamily } from './data.ts';
import { rawColumnsFamily, type ScalarColumns } from './series.ts';

/** assemble on series tables (README.md): the plan made once per table, values only per collection. */
const slot = (name: string, value: string | Uint8Array, pending = false): LabelSlot => ({
  name,
  value,
  pending: pending ? [{ name: 'ksym' }] : [],
});

const table = (
  rows: readonly (readonly LabelSlot[])[],
  values: number[],
  kind: 'counter' | 'gauge' = 'counter',
): RawFamily =>
  rawColumnsFamily(
    { name: 'm', help: 'h', kind, histogram: undefined, startTimeMs: 3 },
    { rows, values: Float64Array.from(values), added: [], removed: [] },
  );

function columnsOf(f: ReturnType<typeof assemble>[number]): ScalarColumns {
  assert.ok(f.kind !== 'histogram' && f.columns, 'a table in, a table out');
  return f.columns;
}

test('assemble, series tables: distinct rows pass their values on; the same table keeps its output rows', () => {
  const rows = [[slot('comm', 'a')], [slot('comm', 'b')]];
  const values = Float64Array.of(1, 2);
  const f = rawColumnsFamily(
    { name: 'm', help: 'h', kind: 'gauge', histogram: undefined, startTimeMs: 3 },
    { rows, values, added: [], removed: [] },
  );
  const [first] = assemble([f]);
  assert.ok(first);
  assert.equal(first.kind, 'gauge');
  const c = columnsOf(first);
  assert.equal(c.values, values, 'no copy');
  assert.deepEqual(c.rows, [{ comm: 'a' }, { comm: 'b' }]);
  assert.deepEqual(first.points, [
    { labels: { comm: 'a' }, value: 1 },
    { labels: { comm: 'b' }, value: 2 },
  ]);
  const [again] = assemble([table(rows, [5, 6], 'gauge')]);
  assert.ok(again);
  assert.equal(columnsOf(again).rows, c.rows, 'same output rows for the same table');
  assert.deepEqual([...columnsOf(again).values], [5, 6]);
});

test('assemble, series tables: rows decoding to one label set are summed; undecoded rows counted every time', () => {
  const rows = [
    [slot('comm', 'a'), slot('fn', 'x')],
    [slot('comm', 'a', true)],
    [slot('fn', 'x'), slot('comm', 'a')],
    [slot('comm', 'b'), slot('fn', 'y')],
  ];
  const stats: AssembleStats = { undecoded: 0, badBuckets: 0 };
  for (const [i, vals] of [
    [1, 100, 2, 4],
    [10, 100, 20, 40],
  ].entries()) {
    const [out] = assemble([table(rows, vals)], stats);
    assert.ok(out);
    const plain = [
      { labels: { comm: 'a', fn: 'x' }, value: (vals[0] as number) + (vals[2] as number) },
      { labels: { comm: 'b', fn: 'y' }, value: vals[3] },
    ];
    assert.deepEqual(out.points, plain, `collection ${i}`);
    // The same as the points path gives for the same data.
    const [viaPoints] = assemble([
      {
        name: 'm',
        help: 'h',
        kind: 'counter',
        startTimeMs: 3,
        points: rows.map((labels, j) => ({ labels, value: vals[j] as number })),
      },
    ]);
    assert.deepEqual(viaPoints?.points, plain);
  }
  assert.equal(stats.undecoded, 2);
});
