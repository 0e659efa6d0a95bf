import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allDecoders } from '../../decoders/index.ts';
import type { RawFamily } from '../../pipeline/data.ts';
import type { RawColumns } from '../../pipeline/series.ts';
import { key, mutableMap } from './reader-testing.ts';
import { MetricReader, type MetricDefinition, type ReadStats } from './reader.ts';

/**
 * The reader as a series-table producer (src/pipeline/README.md): rows the same array while
 * the map's keys are unchanged, fresh values per read, new and gone series listed.
 */

const def = (d: Partial<MetricDefinition> = {}): MetricDefinition => ({
  name: 'm',
  help: 'h',
  kind: 'counter',
  map: 'm',
  labels: [
    { name: 'a', size: 4, decoders: [{ name: 'uint' }] },
    { name: 'b', size: 4, decoders: [{ name: 'uint' }] },
  ],
  ...d,
});

const stats = (): ReadStats => ({ decodeErrors: 0, skipped: 0 });

function columns(f: RawFamily): RawColumns {
  assert.ok(f.columns, 'a series table');
  return f.columns;
}

const text = (c: RawColumns): string[] =>
  c.rows.map((r, i) => `${r.map((l) => String(l.value)).join(',')} ${c.values[i]}`);

test('series table: unchanged keys keep the rows array; values are a fresh array per read', () => {
  const { map, set } = mutableMap({});
  const r = new MetricReader(def(), map, allDecoders(), 0);
  set([
    [key(1, 2), 10],
    [key(3, 4), 20],
  ]);
  const first = columns(r.read(stats()));
  assert.deepEqual(text(first), ['1,2 10', '3,4 20']);
  assert.deepEqual(first.added, [0, 1], 'every series is new at the first read');
  assert.deepEqual(first.removed, []);
  set([
    [key(1, 2), 11],
    [key(3, 4), 21],
  ]);
  const second = columns(r.read(stats()));
  assert.equal(second.rows, first.rows, 'same rows array');
  assert.notEqual(second.values, first.values);
  assert.deepEqual(text(second), ['1,2 11', '3,4 21']);
  assert.deepEqual([...first.values.subarray(0, 2)], [10, 20], 'an emitted batch never changes');
  assert.deepEqual(second.added, []);
  assert.deepEqual(second.removed, []);
});

test('series table: a key added or removed gives a new rows array sharing the rows that stayed', () => {
  const { map, set } = mutableMap({});
  const r = new MetricReader(def(), map, allDecoders(), 0);
  set([
    [key(1, 1), 1],
    [key(2, 2), 2],
    [key(3, 3), 3],
  ]);
  const first = columns(r.read(stats()));
  set([
    [key(1, 1), 1],
    [key(3, 3), 3],
    [key(4, 4), 4],
  ]);
  const second = columns(r.read(stats()));
  assert.notEqual(second.rows, first.rows);
  assert.deepEqual(text(second), ['1,1 1', '3,3 3', '4,4 4']);
  assert.equal(second.rows[0], first.rows[0]);
  assert.equal(second.rows[1], first.rows[2], 'a series keeps its row object at another position');
  assert.deepEqual(second.added, [2]);
  assert.deepEqual(second.removed, [first.rows[1]]);
  // Fewer keys, the rest in the same order: a shorter array.
  set([[key(1, 1), 5]]);
  const third = columns(r.read(stats()));
  assert.deepEqual(text(third), ['1,1 5']);
  assert.equal(third.rows[0], first.rows[0]);
  assert.deepEqual(third.added, []);
  assert.deepEqual(new Set(third.removed), new Set([first.rows[2], second.rows[2]]));
  set([]);
  const empty = columns(r.read(stats()));
  assert.equal(empty.rows.length, 0);
  assert.deepEqual(empty.removed, [first.rows[0]]);
});

test('series table: keys unchanged in order (values only): dropped label sets still counted, per-CPU values summed', () => {
  const { map, set } = mutableMap({ type: 'percpu_hash', perCpu: true, numCpus: 2 });
  const r = new MetricReader(
    def({
      labels: [
        { name: 'a', size: 4, decoders: [{ name: 'uint' }] },
        { name: 'b', size: 4, decoders: [{ name: 'uint' }, { name: 'regexp', regexps: ['^[0-5]$'] }] },
      ],
    }),
    map,
    allDecoders(),
    0,
  );
  const entries = (base: number): [Buffer, number][] => [
    [key(1, 2), base],
    [key(1, 9), base + 100], // b=9: dropped by the regexp
    [key(3, 4), base + 200],
  ];
  set(entries(10));
  const s1 = stats();
  const first = columns(r.read(s1));
  assert.equal(s1.skipped, 1);
  // Summed per CPU: the fixture gives CPU c the value v + c.
  assert.deepEqual(text(first), ['1,2 21', '3,4 421']);
  for (let round = 1; round <= 3; round++) {
    set(entries(10 * round));
    const s = stats();
    const c = columns(r.read(s));
    assert.equal(c.rows, first.rows, `read ${round}: same table`);
    assert.equal(s.skipped, 1, `read ${round}: the dropped key counted again`);
    assert.deepEqual(text(c), [`1,2 ${20 * round + 1}`, `3,4 ${20 * round + 401}`]);
    assert.deepEqual([c.added, c.removed], [[], []]);
  }
  // The same keys in another order: each row keeps its own value.
  set([
    entries(50)[2] as [Buffer, number],
    entries(50)[1] as [Buffer, number],
    entries(50)[0] as [Buffer, number],
  ]);
  const swapped = columns(r.read(stats()));
  assert.deepEqual(text(swapped), ['3,4 501', '1,2 101']);
  assert.equal(swapped.rows[0], first.rows[1]);
});

test('series table: a values-only read gives what a first read of the same map gives', () => {
  // u64 values past 2^32 (the fast loop joins two words), 4-byte values, a key whose labels
  // a decoder drops (the loop that looks at each key's entry), each against a new reader.
  const dropB: Partial<MetricDefinition> = {
    labels: [
      { name: 'a', size: 4, decoders: [{ name: 'uint' }] },
      { name: 'b', size: 4, decoders: [{ name: 'uint' }, { name: 'regexp', regexps: ['^[0-5]$'] }] },
    ],
  };
  const cases: { info: Parameters<typeof mutableMap>[0]; d: Partial<MetricDefinition>; skipped: number }[] = [
    { info: {}, d: {}, skipped: 0 },
    { info: { valueSize: 4, valueStride: 8 }, d: {}, skipped: 0 },
    { info: {}, d: dropB, skipped: 1 },
  ];
  for (const [ci, { info, d, skipped }] of cases.entries()) {
    const { map, set } = mutableMap(info);
    const warm = new MetricReader(def(d), map, allDecoders(), 0);
    const entries = (round: number): [Buffer, number][] => [
      [key(1, 2), 2 ** 40 * round + 3],
      [key(1, 9), 2 ** 33 + round], // b=9: dropped in the third case
      [key(3, 4), 2 ** 32 - 1 + round],
      [key(5, 0), round],
    ];
    set(entries(0));
    const first = columns(warm.read(stats()));
    for (let round = 1; round <= 3; round++) {
      set(entries(round));
      const s = stats();
      const again = columns(warm.read(s));
      assert.equal(again.rows, first.rows, `case ${ci} read ${round}: values only`);
      const fresh = stats();
      const expected = columns(new MetricReader(def(d), map, allDecoders(), 0).read(fresh));
      assert.deepEqual(text(again), text(expected), `case ${ci} read ${round}`);
      assert.equal(again.values.length, again.rows.length);
      assert.deepEqual([s.skipped, fresh.skipped], [skipped, skipped]);
    }
  }
});

test('series table: per-CPU with a cpu label: a row per CPU, each listed as added', () => {
  const { map, set } = mutableMap({ type: 'percpu_hash', perCpu: true, numCpus: 2 });
  const r = new MetricReader(
    def({
      labels: [
        { name: 'a', size: 4, decoders: [{ name: 'uint' }] },
        { name: 'b', size: 4, decoders: [{ name: 'uint' }] },
        { name: 'cpu', size: 0, decoders: [] },
      ],
    }),
    map,
    allDecoders(),
    0,
  );
  set([[key(1, 2), 10]]);
  const first = columns(r.read(stats()));
  assert.deepEqual(text(first), ['1,2,0 10', '1,2,1 11']);
  assert.deepEqual(first.added, [0, 1]);
  const second = columns(r.read(stats()));
  assert.equal(second.rows, first.rows);
  set([]);
  const gone = columns(r.read(stats()));
  assert.deepEqual(gone.removed, first.rows);
});

test('series table: not made when a decoder the reader runs is impure (labels decoded every read)', () => {
  const { map, set } = mutableMap({});
  const registry = allDecoders();
  registry.set('ifname', { name: 'ifname', decode: () => 'eth0' });
  const r = new MetricReader(
    def({
      labels: [
        { name: 'a', size: 4, decoders: [{ name: 'uint' }, { name: 'ifname' }] },
        { name: 'b', size: 4, decoders: [{ name: 'uint' }] },
      ],
    }),
    map,
    registry,
    0,
  );
  set([[key(1, 2), 10]]);
  const f = r.read(stats());
  assert.equal(f.columns, undefined);
  assert.equal(f.points.length, 1);
});
