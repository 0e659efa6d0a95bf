import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LabelSlot, MetricBatch, RawFamily } from '../pipeline/data.ts';
import { rawColumnsFamily, type RawColumns } from '../pipeline/series.ts';
import { mapPoints, newCounts, type PointFn } from './points.ts';
import { LabelTables } from './tables.ts';
import { seededRandom as rng } from '../../test/helpers/random.ts';

/**
 * The label walk on series tables (src/pipeline/README.md) against its points path:
 * randomized tables whose values change and whose series come and go, through functions
 * that keep, drop, rename (`__name__`), change labels and fail; every collection the
 * output equals the points path's (families, order, points, counts), an unchanged table
 * gives the same output tables, values pass on uncopied when every row keeps its place,
 * and `added`/`removed` say exactly which output rows are new and gone.
 */
const VALUES = ['x', 'y', 'z', 'bad', 'q', 'w'];

const FNS: Record<string, PointFn> = {
  keep: () => true,
  drop: (l) => l.get('a') !== 'x',
  rename: (l) => {
    if (l.get('b') === 'y') l.set('__name__', `${l.get('__name__')}_r`);
    return true;
  },
  change: (l) => {
    if (l.get('a') === 'z') l.set('c', `${l.get('a')}${l.get('b') ?? ''}`);
    if (l.get('b') === 'w') l.delete('b');
    return true;
  },
  fail: (l) => {
    if (l.get('a') === 'bad') throw new Error('bad a');
    if (l.get('b') === 'q') l.set('__name__', '');
    return l.get('b') !== 'z';
  },
};

type Table = { name: string; kind: 'counter' | 'histogram'; rows: LabelSlot[][]; values: Float64Array };

function gen(r: () => number): { newRow: (kind: Table['kind']) => LabelSlot[]; tables: Table[] } {
  const int = (n: number): number => Math.floor(r() * n);
  let bucket = 0;
  const newRow = (kind: Table['kind']): LabelSlot[] => {
    const row: LabelSlot[] = [];
    for (const name of ['a', 'b']) {
      if (r() < 0.2) continue;
      row.push({ name, value: VALUES[int(VALUES.length)] as string, pending: [] });
    }
    if (r() < 0.1) row.push({ name: 'p', value: Uint8Array.of(1), pending: [{ name: 'ksym' }] });
    if (kind === 'histogram') row.push({ name: 'bucket', value: String(bucket++ % 4), pending: [] });
    return row;
  };
  const tables: Table[] = [];
  for (let f = int(3); f >= 0; f--) {
    const kind = r() < 0.3 ? 'histogram' : 'counter';
    const rows = Array.from({ length: int(8) }, () => newRow(kind));
    tables.push({ name: `m${f}`, kind, rows, values: Float64Array.from(rows, () => int(100)) });
  }
  return { newRow, tables };
}

function familyOf(t: Table, prev: readonly LabelSlot[][] | undefined): RawFamily {
  const before = new Set(prev ?? []);
  const now = new Set(t.rows);
  const added = t.rows.flatMap((row, i) => (before.has(row) ? [] : [i]));
  const removed = (prev ?? []).filter((row) => !now.has(row));
  return rawColumnsFamily(
    {
      name: t.name,
      help: 'h',
      kind: t.kind,
      histogram:
        t.kind === 'histogram'
          ? { bucketType: 'linear', bucketMin: 0, bucketMax: 3, bucketMultiplier: 1, bucketKeys: [] }
          : undefined,
      startTimeMs: 0,
    },
    { rows: t.rows, values: t.values, added, removed },
  );
}

const plain = (f: RawFamily): RawFamily => ({ ...f, points: [...f.points] });
const batchOf = (families: RawFamily[]): MetricBatch => ({ source: 's', config: 'c', timeMs: 0, families });
const view = (fams: readonly RawFamily[]): unknown =>
  fams.map((f) => ({ name: f.name, kind: f.kind, points: f.points.map((p) => [p.labels, p.value]) }));

test('label walk on series tables equals its points path, collection after collection', () => {
  for (const [fnName, fn] of Object.entries(FNS)) {
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed * 31 + fnName.length);
      const { newRow, tables: initial } = gen(r);
      const walk = new LabelTables(fn);
      let tables = initial;
      let prevIn: (LabelSlot[][] | undefined)[] = tables.map(() => undefined);
      let prevOut = new Map<string, RawColumns>();
      for (let c = 0; c < 4; c++) {
        const context = `${fnName}, seed ${seed}, collection ${c}`;
        const families = tables.map((t, i) => familyOf(t, prevIn[i]));
        const counts = newCounts();
        const viaPoints = newCounts();
        const out = mapPoints(batchOf(families), fn, counts, walk).families;
        const expected = mapPoints(batchOf(families.map(plain)), fn, viaPoints).families;
        assert.deepEqual(view(out), view(expected), context);
        assert.deepEqual(counts, viaPoints, `${context}: counts`);
        const outNow = new Map<string, RawColumns>();
        for (const f of out) {
          const col = f.columns;
          assert.ok(col, `${context}: ${f.name} is a table`);
          outNow.set(f.name, col);
          const before = prevOut.get(f.name);
          // added / removed: exactly the output rows new and gone since the last collection.
          const had = new Set(before?.rows ?? []);
          const has = new Set(col.rows);
          assert.deepEqual(
            col.added,
            col.rows.flatMap((row, i) => (had.has(row) ? [] : [i])),
            `${context}: ${f.name} added`,
          );
          assert.deepEqual(
            new Set(col.removed),
            new Set((before?.rows ?? []).filter((row) => !has.has(row))),
            `${context}: ${f.name} removed`,
          );
        }
        // An unchanged input gives the same output tables; values pass on when rows keep their place.
        const derived = walk.derived;
        const again = mapPoints(batchOf(families), fn, newCounts(), walk).families;
        assert.equal(walk.derived, derived, `${context}: nothing derived again`);
        assert.equal(again.length, out.length);
        for (const [i, f] of again.entries()) {
          const col = f.columns as RawColumns;
          assert.equal(col.rows, out[i]?.columns?.rows, `${context}: same output rows`);
          const input = families.find((x) => x.name === f.name)?.columns;
          if (input !== undefined && col.rows.length === input.rows.length) {
            assert.equal(col.values, input.values, `${context}: values passed on`);
          }
        }
        prevIn = tables.map((t) => t.rows);
        prevOut = outNow;
        // Next collection: new values on the same rows, or rows gone and new.
        tables = tables.map((t) => {
          const values = Float64Array.from(t.rows, () => Math.floor(r() * 100));
          if (r() < 0.5) return { ...t, values };
          const rows = [...t.rows.filter(() => r() < 0.7), ...(r() < 0.6 ? [newRow(t.kind)] : [])];
          return { ...t, rows, values: Float64Array.from(rows, () => Math.floor(r() * 100)) };
        });
      }
    }
  }
});

test('label walk on series tables: each row through the function once; a table kept is passed on as it is', () => {
  let calls = 0;
  const walk = new LabelTables((l) => {
    calls++;
    return l.get('a') !== 'x';
  });
  const row = (a: string): LabelSlot[] => [{ name: 'a', value: a, pending: [] }];
  const rows = [row('k'), row('x'), row('m')];
  const fam = (values: number[], rs = rows): RawFamily =>
    rawColumnsFamily(
      { name: 'm', help: 'h', kind: 'counter', histogram: undefined, startTimeMs: 0 },
      { rows: rs, values: Float64Array.from(values), added: [], removed: [] },
    );
  const [first] = walk.family(fam([1, 2, 3]), fam([1, 2, 3]).columns as RawColumns, newCounts());
  assert.deepEqual([...(first?.columns?.values ?? [])], [1, 3], 'the dropped row left out');
  const [second] = walk.family(fam([4, 5, 6]), fam([4, 5, 6]).columns as RawColumns, newCounts());
  assert.equal(second?.columns?.rows, first?.columns?.rows);
  assert.deepEqual([...(second?.columns?.values ?? [])], [4, 6]);
  assert.equal(calls, 3);
  // A new table sharing two rows: only the new row goes through the function.
  const next = [rows[0] as LabelSlot[], rows[2] as LabelSlot[], row('n')];
  walk.family(fam([1, 2, 3], next), fam([1, 2, 3], next).columns as RawColumns, newCounts());
  assert.equal(calls, 4);
  // Every row kept as it is: the family itself comes back.
  const kept = [row('k'), row('m')];
  const f = fam([1, 2], kept);
  assert.deepEqual(walk.family(f, f.columns as RawColumns, newCounts()), [f]);
});
