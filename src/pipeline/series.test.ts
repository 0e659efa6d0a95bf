import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LabelSlot } from './data.ts';
import {
  NONE,
  pointCount,
  rawColumnsFamily,
  rowChanges,
  scalarColumnsFamily,
  takeValues,
  withFields,
} from './series.ts';

const slots = (v: string): readonly LabelSlot[] => [{ name: 'comm', value: v, pending: [] }];

test('a raw table: points made from the columns on first use, once; columns not enumerable', () => {
  const rows = [slots('a'), slots('b')];
  const f = rawColumnsFamily(
    { name: 'm', help: 'h', kind: 'counter', histogram: undefined, startTimeMs: 5 },
    { rows, values: Float64Array.of(1, 2, 99), added: NONE, removed: NONE },
  );
  assert.equal(pointCount(f), 2, 'counted without points (values may be longer than rows)');
  assert.deepEqual(f.points, [
    { labels: rows[0], value: 1 },
    { labels: rows[1], value: 2 },
  ]);
  assert.equal(f.points, f.points, 'made once');
  assert.equal(f.columns?.rows, rows);
  assert.ok(!Object.keys(f).includes('columns'));
  // A component that spreads the family into a new one hands on plain points.
  const copy = { ...f, name: 'n' };
  assert.equal(copy.columns, undefined);
  assert.deepEqual(copy.points, f.points);
  // Equal to the plain family it stands for.
  assert.deepEqual(f, {
    name: 'm',
    help: 'h',
    kind: 'counter',
    histogram: undefined,
    startTimeMs: 5,
    points: f.points,
  });
});

test('an assembled table: withFields keeps the columns, a spread drops them', () => {
  const a = { comm: 'a' };
  const f = scalarColumnsFamily(
    { kind: 'counter', name: 'x', help: 'h', startTimeMs: 0 },
    { rows: [a], values: Float64Array.of(7) },
  );
  const named = withFields(f, { asNamed: true });
  assert.equal(named.kind === 'counter' && named.asNamed, true);
  assert.equal(named.columns, f.columns);
  assert.deepEqual(named.points, [{ labels: a, value: 7 }]);
  const plain = withFields({ kind: 'gauge', name: 'g', help: '', startTimeMs: 0, points: [] }, { name: 'h' });
  assert.deepEqual(plain, { kind: 'gauge', name: 'h', help: '', startTimeMs: 0, points: [] });
  assert.equal(pointCount(undefined), 0);
  assert.equal(pointCount(plain), 0);
});

test('a derived table: values taken by input row, rows added and removed by identity', () => {
  const values = Float64Array.of(10, 20, 30);
  assert.equal(takeValues(values, undefined), values, 'every row in its place: the same values');
  assert.deepEqual(takeValues(values, Int32Array.of(2, 0)), Float64Array.of(30, 10));
  const [a, b, c] = [slots('a'), slots('b'), slots('c')];
  const rows = [a, b];
  assert.deepEqual(rowChanges(rows, rows), { added: NONE, removed: NONE });
  assert.deepEqual(rowChanges(rows, [b, a]), { added: NONE, removed: NONE }, 'moved: neither');
  assert.deepEqual(rowChanges(rows, [b, c]), { added: [1], removed: [a] });
  assert.deepEqual(rowChanges(rows, [b, slots('a')]), { added: [1], removed: [a] }, 'by identity, not value');
});
