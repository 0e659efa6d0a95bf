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

test('assemble, series tables: histograms equal the points path; the plan is made once per table', () => {
  let seed = 7;
  const r = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const int = (n: number): number => Math.floor(r() * n);
  const spec = {
    bucketType: 'exp2',
    bucketMin: 0,
    bucketMax: 4,
    bucketMultiplier: 0.001,
    bucketKeys: [],
  } as const;
  const row = (): LabelSlot[] => {
    // Buckets 0..4, the sum slot (5), one outside the range (9), a bad bucket label.
    const bucket = ['0', '1', '2', '3', '4', '5', '5', '9', 'x'][int(9)] as string;
    const labels = [slot('dev', ['sda', 'sdb', 'nvme0'][int(3)] as string, r() < 0.05)];
    if (r() < 0.5) labels.push(slot('op', ['read', 'write'][int(2)] as string));
    return [...labels, slot('bucket', bucket)];
  };
  const fam = (rows: LabelSlot[][], values: Float64Array, columns: boolean): RawFamily => {
    const fields = { name: 'lat', help: 'h', kind: 'histogram' as const, histogram: spec, startTimeMs: 3 };
    return columns
      ? rawColumnsFamily(fields, { rows, values, added: [], removed: [] })
      : { ...fields, points: rows.map((labels, i) => ({ labels, value: values[i] as number })) };
  };
  for (let t = 0; t < 200; t++) {
    let rows = Array.from({ length: 1 + int(30) }, row);
    let previous: ReturnType<typeof assemble>[number] | undefined;
    for (let c = 0; c < 4; c++) {
      const values = Float64Array.from(rows, () => (r() < 0.3 ? int(1000) / 7 : int(50)));
      const a: AssembleStats = { undecoded: 0, badBuckets: 0 };
      const b: AssembleStats = { undecoded: 0, badBuckets: 0 };
      const [onTable] = assemble([fam(rows, values, true)], a);
      const [onPoints] = assemble([fam(rows, values, false)], b);
      assert.deepEqual(onTable, onPoints, `table ${t}, collection ${c}`);
      assert.deepEqual(a, b, `table ${t}, collection ${c}: stats`);
      const bounds = onTable?.kind === 'histogram' ? onTable.points[0]?.boundaries : undefined;
      if (previous?.kind === 'histogram' && previous.points[0] !== undefined && bounds !== undefined) {
        assert.equal(bounds, previous.points[0].boundaries, 'the same plan for the same table');
      }
      if (r() < 0.5) {
        previous = onTable;
      } else {
        rows = [...rows.filter(() => r() < 0.8), row()];
        previous = undefined;
      }
    }
  }
});
