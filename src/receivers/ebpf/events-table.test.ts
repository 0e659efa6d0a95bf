import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LabelSlot, RawFamily } from '../../pipeline/data.ts';
import type { RawColumns } from '../../pipeline/series.ts';
import { EventCounter, EventHistogram, OVERFLOW_LABEL } from './events-metrics.ts';
import { EventTable } from './events-table.ts';
import type { DecodeStats } from './events-labels.ts';
import { labels, record, registry } from './events-testing.ts';

// Event-derived counters and histograms against the series-table contract (src/pipeline/README.md).

const linear = {
  bucketType: 'linear' as const,
  bucketMin: 0,
  bucketMax: 10,
  bucketMultiplier: 1,
  bucketKeys: [],
};

function columnsOf(f: RawFamily): RawColumns {
  assert.ok(f.columns, 'an event-derived family is a series table');
  return f.columns;
}

const text = (row: readonly LabelSlot[]): string => row.map((l) => `${l.name}=${String(l.value)}`).join(',');

test('EventTable: same rows keep their array; a change gives a new one with added and removed; values fresh', () => {
  const t = new EventTable();
  const a: LabelSlot[] = [{ name: 'k', value: 'a', pending: [] }];
  const b: LabelSlot[] = [{ name: 'k', value: 'b', pending: [] }];
  const c: LabelSlot[] = [{ name: 'k', value: 'c', pending: [] }];
  const collect = (rows: [LabelSlot[], number][]): RawColumns => {
    t.begin();
    for (const [r, v] of rows) t.push(r, v);
    return t.end();
  };
  const first = collect([
    [a, 1],
    [b, 2],
  ]);
  assert.deepEqual(first.added, [0, 1]);
  const same = collect([
    [a, 3],
    [b, 4],
  ]);
  assert.equal(same.rows, first.rows, 'unchanged rows: the same array');
  assert.notEqual(same.values, first.values, 'fresh values');
  assert.deepEqual([...same.values], [3, 4]);
  assert.deepEqual([...first.values], [1, 2], 'an earlier batch is never written');
  assert.deepEqual([same.added, same.removed], [[], []]);
  const changed = collect([
    [b, 5],
    [c, 6],
  ]);
  assert.notEqual(changed.rows, first.rows);
  assert.deepEqual(changed.rows, [b, c]);
  assert.deepEqual(changed.added, [1]);
  assert.deepEqual(changed.removed, [a]);
  const shorter = collect([[b, 7]]);
  assert.deepEqual([shorter.rows, shorter.added, shorter.removed], [[b], [], [c]]);
  const grown = new EventTable();
  grown.begin();
  for (let i = 0; i < 200; i++) grown.push([{ name: 'i', value: String(i), pending: [] }], i);
  assert.deepEqual(
    [...grown.end().values],
    Array.from({ length: 200 }, (_, i) => i),
  );
});

test('EventCounter: one table across collections; new, expired and flushed series are added and removed', () => {
  const t0 = Date.now();
  const value = { offset: 16, size: 8 as const };
  const c = new EventCounter({ name: 'bytes_total', help: 'h', labels, value }, '10s', false, registry, {
    maxSeries: 2,
    idleExpiryMs: 4000,
  });
  const stats: DecodeStats = { errors: 0 };
  c.onRecord(record('a'), stats);
  c.onRecord(record('b', 0), stats); // a series that counted nothing is not a row
  const first = columnsOf(c.family(t0));
  assert.deepEqual(first.rows.map(text), ['comm=a']);
  assert.deepEqual(first.added, [0]);
  c.onRecord(record('a'), stats);
  const second = columnsOf(c.family(t0));
  assert.equal(second.rows, first.rows, 'same series: same rows');
  assert.deepEqual([...second.values], [2]);
  assert.deepEqual([...first.values], [1]);
  c.onRecord(record('b', 5), stats);
  c.onRecord(record('z'), stats); // beyond max_series 2: the overflow series
  const third = columnsOf(c.family(t0));
  assert.deepEqual(third.rows.map(text), ['comm=a', 'comm=b', `${OVERFLOW_LABEL}=true`]);
  assert.equal(third.rows[0], first.rows[0], 'a series that lives on keeps its row');
  assert.deepEqual([third.added, third.removed], [[1, 2], []]);
  assert.deepEqual([...third.values], [2, 5, 1]);
  // `a` and the overflow series go idle; `b` keeps counting.
  for (let t = 1000; t <= 7000; t += 1000) {
    c.tick(t0 + t);
    c.onRecord(record('b'), stats);
  }
  const fourth = columnsOf(c.family(t0 + 7000));
  assert.deepEqual(fourth.rows.map(text), ['comm=b']);
  assert.deepEqual(fourth.removed.map(text), ['comm=a', `${OVERFLOW_LABEL}=true`]);
  assert.deepEqual(fourth.added, []);
  // flush_interval (10 s): every series starts over, so every row is new.
  c.onRecord(record('b'), stats);
  const flushed = columnsOf(c.family(t0 + 10_500));
  assert.deepEqual([flushed.rows, flushed.added, flushed.removed.map(text)], [[], [], ['comm=b']]);
  assert.equal(stats.errors, 0);
});

test('EventHistogram: bucket rows made once per series; a new bucket adds rows; points as before', () => {
  const h = new EventHistogram(
    { name: 'lat', help: 'h', labels, value: { offset: 16, size: 8 } },
    linear,
    registry,
  );
  const stats: DecodeStats = { errors: 0 };
  h.onRecord(record('a', 2), stats);
  h.onRecord(record('a', 3), stats);
  const first = h.family(Date.now());
  const c1 = columnsOf(first);
  assert.deepEqual(c1.rows.map(text), ['comm=a,bucket=2', 'comm=a,bucket=3', 'comm=a,bucket=11']);
  assert.deepEqual(
    first.points.map((p) => [text(p.labels), p.value]),
    [
      ['comm=a,bucket=2', 1],
      ['comm=a,bucket=3', 1],
      ['comm=a,bucket=11', 5],
    ],
  );
  h.onRecord(record('a', 2), stats);
  const c2 = columnsOf(h.family(Date.now()));
  assert.equal(c2.rows, c1.rows);
  assert.deepEqual([...c2.values], [2, 1, 7]);
  h.onRecord(record('a', 9), stats);
  h.onRecord(record('b', 1), stats);
  const c3 = columnsOf(h.family(Date.now()));
  assert.deepEqual(c3.rows.map(text), [
    'comm=a,bucket=2',
    'comm=a,bucket=3',
    'comm=a,bucket=9',
    'comm=a,bucket=11',
    'comm=b,bucket=1',
    'comm=b,bucket=11',
  ]);
  assert.equal(c3.rows[0], c1.rows[0]);
  assert.equal(c3.rows[3], c1.rows[2], 'the sum row lives on');
  assert.deepEqual([c3.added, c3.removed], [[2, 4, 5], []]);
  assert.deepEqual([...c3.values], [2, 1, 1, 16, 1, 1]);
});
