import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LabelSlot } from './data.ts';
import { NONE, pointCount, rawColumnsFamily, scalarColumnsFamily, withFields } from './series.ts';

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
