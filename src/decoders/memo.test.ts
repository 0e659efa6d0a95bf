import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstValueFrom, of } from 'rxjs';
import { builtinDecoders } from './builtin.ts';
import { DecodeError, type Decoder } from './decoder.ts';
import type { LabelSlot, MetricBatch, RawPoint } from '../pipeline/data.ts';
import { rawColumnsFamily, type RawColumns } from '../pipeline/series.ts';
import { ChainMemo, type MemoSource } from './memo.ts';

const batchOf = (points: RawPoint[]): MetricBatch => ({
  source: 'ebpf/x',
  config: 'x',
  timeMs: 1,
  families: [{ name: 'f', help: 'h', kind: 'counter', startTimeMs: 0, points }],
});

async function run(memo: ChainMemo, points: RawPoint[], errors: number[] = []): Promise<RawPoint[]> {
  const out = await firstValueFrom(
    of(batchOf(points)).pipe(memo.operator((_s, _c, stats) => errors.push(stats.decodeErrors))),
  );
  return out.families[0]?.points as RawPoint[];
}

const values = (points: RawPoint[]): string[] =>
  points.map((p) => `${p.labels.map((l) => String(l.value)).join(',')} ${p.value}`);

/** A table decoder: `t` answers from a Map the test changes; misses are volatile. */
function fixture(): {
  memo: ChainMemo;
  table: Map<string, string>;
  source: MemoSource & { gen: number };
  calls: () => number;
} {
  const table = new Map<string, string>();
  let calls = 0;
  const source = {
    gen: 0,
    volatile: false,
    generation(): number {
      return this.gen;
    },
  };
  const t: Decoder = {
    name: 't',
    decode(input) {
      calls++;
      const k = String(input);
      if (k === 'bad') throw new DecodeError('t', 'bad input');
      const hit = table.get(k);
      if (hit === undefined) {
        source.volatile = true;
        return `unknown:${k}`;
      }
      return hit;
    },
  };
  const registry = new Map<string, Decoder>(builtinDecoders.map((d) => [d.name, d]));
  registry.set('t', t);
  return { memo: new ChainMemo(registry, source), table, source, calls: () => calls };
}

const slots = (v: string): LabelSlot[] => [
  {
    name: 'x',
    value: v,
    pending: [{ name: 't' }, { name: 'static_map', staticMap: { one: 'ONE' }, allowUnknown: true }],
  },
  { name: 'y', value: 'fixed', pending: [] },
];

test('chain memo: a slot array seen before is decoded once; values stay fresh; its output array is reused', async () => {
  const { memo, table, calls } = fixture();
  table.set('a', 'one');
  const a = slots('a');
  const first = await run(memo, [{ labels: a, value: 1 }]);
  const second = await run(memo, [{ labels: a, value: 2 }]);
  assert.deepEqual(values(first), ['ONE,fixed 1']);
  assert.deepEqual(values(second), ['ONE,fixed 2']);
  assert.equal(second[0]?.labels, first[0]?.labels);
  assert.equal(calls(), 1);
  assert.equal(memo.decoded, 1);
});

test('chain memo: a miss the decoder does not cache is asked again, and resolves once the table has it', async () => {
  const { memo, table, calls } = fixture();
  const b = slots('b');
  assert.deepEqual(values(await run(memo, [{ labels: b, value: 1 }])), ['unknown:b,fixed 1']);
  assert.deepEqual(values(await run(memo, [{ labels: b, value: 1 }])), ['unknown:b,fixed 1']);
  assert.equal(calls(), 2);
  table.set('b', 'bee');
  assert.deepEqual(values(await run(memo, [{ labels: b, value: 1 }])), ['bee,fixed 1']);
  assert.deepEqual(values(await run(memo, [{ labels: b, value: 1 }])), ['bee,fixed 1']);
  assert.equal(calls(), 3);
});

test('chain memo: a new table generation (re-read) drops every remembered result', async () => {
  const { memo, table, source } = fixture();
  table.set('a', 'old');
  const a = slots('a');
  assert.deepEqual(values(await run(memo, [{ labels: a, value: 1 }])), ['old,fixed 1']);
  table.set('a', 'renamed');
  assert.deepEqual(values(await run(memo, [{ labels: a, value: 1 }])), ['old,fixed 1']);
  source.gen++;
  assert.deepEqual(values(await run(memo, [{ labels: a, value: 1 }])), ['renamed,fixed 1']);
});

test('chain memo: decode errors are counted on every batch; clear() forgets', async () => {
  const { memo, table, calls } = fixture();
  table.set('a', 'x');
  const errors: number[] = [];
  const bad = slots('bad');
  const a = slots('a');
  for (let i = 0; i < 3; i++) {
    const out = await run(
      memo,
      [
        { labels: bad, value: 1 },
        { labels: a, value: 2 },
      ],
      errors,
    );
    assert.deepEqual(values(out), ['x,fixed 2']);
  }
  assert.deepEqual(errors, [1, 1, 1]);
  assert.equal(calls(), 3 + 1);
  memo.clear();
  await run(memo, [{ labels: a, value: 2 }]);
  assert.equal(calls(), 5);
});

/** A batch whose family is a series table (src/pipeline/README.md). */
async function runTable(
  memo: ChainMemo,
  rows: readonly (readonly LabelSlot[])[],
  vals: number[],
  delta: { added?: number[]; removed?: (readonly LabelSlot[])[] } = {},
  errors: number[] = [],
): Promise<RawColumns> {
  const family = rawColumnsFamily(
    { name: 'f', help: 'h', kind: 'counter', histogram: undefined, startTimeMs: 0 },
    { rows, values: Float64Array.from(vals), added: delta.added ?? [], removed: delta.removed ?? [] },
  );
  const out = await firstValueFrom(
    of({ ...batchOf([]), families: [family] }).pipe(
      memo.operator((_s, _c, stats) => errors.push(stats.decodeErrors)),
    ),
  );
  const c = out.families[0]?.columns;
  assert.ok(c, 'a table in, a table out');
  return c;
}

const tableText = (c: RawColumns): string[] =>
  c.rows.map((r, i) => `${r.map((l) => String(l.value)).join(',')} ${c.values[i]}`);

test('chain memo, series tables: one output table per input table; per batch only values move', async () => {
  const { memo, table, calls } = fixture();
  table.set('a', 'one');
  table.set('b', 'bee');
  const rows = [slots('a'), slots('b')];
  const first = await runTable(memo, rows, [1, 2], { added: [0, 1] });
  assert.deepEqual(tableText(first), ['ONE,fixed 1', 'bee,fixed 2']);
  assert.deepEqual(first.added, [0, 1]);
  const input = Float64Array.of(3, 4);
  const family = rawColumnsFamily(
    { name: 'f', help: 'h', kind: 'counter', histogram: undefined, startTimeMs: 0 },
    { rows, values: input, added: [], removed: [] },
  );
  const out = await firstValueFrom(of({ ...batchOf([]), families: [family] }).pipe(memo.operator(() => {})));
  const second = out.families[0]?.columns as RawColumns;
  assert.equal(second.rows, first.rows, 'the same output table');
  assert.equal(second.values, input, 'values passed on, not copied');
  assert.deepEqual(second.added, []);
  assert.equal(calls(), 2, 'each key decoded once');
  // A new input table (a key gone, one new): the rows that stayed keep their output rows.
  const c = slots('a');
  table.set('a', 'one');
  const third = await runTable(memo, [rows[0] as LabelSlot[], c], [5, 6], {
    added: [1],
    removed: [rows[1] as LabelSlot[]],
  });
  assert.equal(third.rows[0], first.rows[0]);
  assert.deepEqual(third.added, [1]);
  assert.deepEqual(third.removed, [first.rows[1]]);
  assert.equal(calls(), 3);
});

test('chain memo, series tables: dropped rows gather values; volatile or failed rows are derived again', async () => {
  const { memo, table, source, calls } = fixture();
  table.set('a', 'one');
  const rows = [slots('bad'), slots('miss'), slots('a')];
  const errors: number[] = [];
  for (let i = 0; i < 2; i++) {
    const out = await runTable(memo, rows, [1, 2, 3], { added: [0, 1, 2] }, errors);
    assert.deepEqual(tableText(out), ['unknown:miss,fixed 2', 'ONE,fixed 3']);
    assert.deepEqual(out.added, [0, 1], 'added rows mapped past the dropped one');
  }
  assert.deepEqual(errors, [1, 1], 'a decode error counted on every batch');
  assert.equal(calls(), 5, 'bad and miss asked again, a once');
  table.set('miss', 'found');
  const later = await runTable(memo, rows, [1, 2, 3], {}, errors);
  assert.deepEqual(tableText(later), ['found,fixed 2', 'ONE,fixed 3']);
  // A re-read of the decoder's table drops the output tables too.
  table.set('a', 'renamed');
  source.gen++;
  const reread = await runTable(memo, rows, [1, 2, 3], {}, errors);
  assert.deepEqual(tableText(reread), ['found,fixed 2', 'renamed,fixed 3']);
});

test('chain memo, series tables: a table no label of which needs the decoder is passed on as it is', async () => {
  const { memo } = fixture();
  const rows = [[{ name: 'y', value: 'v', pending: [] }]];
  const family = rawColumnsFamily(
    { name: 'f', help: 'h', kind: 'counter', histogram: undefined, startTimeMs: 0 },
    { rows, values: Float64Array.of(1), added: [], removed: [] },
  );
  const out = await firstValueFrom(of({ ...batchOf([]), families: [family] }).pipe(memo.operator(() => {})));
  assert.equal(out.families[0], family);
});
