import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allDecoders } from '../../decoders/index.ts';
import type { Decoder } from '../../decoders/decoder.ts';
import type { RawFamily } from '../../pipeline/data.ts';
import { key, mutableMap } from './reader-testing.ts';
import { MetricReader, type MetricDefinition, type ReadStats } from './reader.ts';

const def = (d: Partial<MetricDefinition>): MetricDefinition => ({
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

function plain(f: RawFamily): string[] {
  return f.points.map((p) => `${p.labels.map((l) => `${l.name}=${String(l.value)}`).join(',')} ${p.value}`);
}

test('key cache: a key read again gives the same (immutable) slot array, with its fresh value', () => {
  const { map, set } = mutableMap({});
  const r = new MetricReader(def({}), map, allDecoders(), 0);
  set([
    [key(1, 2), 10],
    [key(3, 4), 20],
  ]);
  const first = r.read(stats());
  assert.deepEqual(plain(first), ['a=1,b=2 10', 'a=3,b=4 20']);
  assert.equal(r.cachedKeys, 2);
  set([
    [key(1, 2), 11],
    [key(3, 4), 25],
  ]);
  const second = r.read(stats());
  assert.deepEqual(plain(second), ['a=1,b=2 11', 'a=3,b=4 25']);
  assert.equal(second.points[0]?.labels, first.points[0]?.labels);
  assert.equal(second.points[1]?.labels, first.points[1]?.labels);
  // The earlier batch is untouched (batches are immutable).
  assert.deepEqual(plain(first), ['a=1,b=2 10', 'a=3,b=4 20']);
});

test('key cache: a different key at the same position is decoded, never served from the old one', () => {
  const { map, set } = mutableMap({});
  const r = new MetricReader(def({}), map, allDecoders(), 0);
  set([
    [key(1, 2), 1],
    [key(3, 4), 2],
  ]);
  r.read(stats());
  // Same positions, changed bytes (one in the high word only), and order swapped.
  set([
    [key(3, 4), 2],
    [key(1, 7), 3],
    [key(1, 2), 1],
  ]);
  assert.deepEqual(plain(r.read(stats())), ['a=3,b=4 2', 'a=1,b=7 3', 'a=1,b=2 1']);
  assert.equal(r.cachedKeys, 3);
});

test('key cache: keys gone from the map are forgotten (the cache holds the live keys only)', () => {
  const { map, set } = mutableMap({});
  const r = new MetricReader(def({}), map, allDecoders(), 0);
  set(Array.from({ length: 20 }, (_, i) => [key(i, i), i] as [Buffer, number]));
  r.read(stats());
  assert.equal(r.cachedKeys, 20);
  set([[key(5, 5), 1]]);
  assert.deepEqual(plain(r.read(stats())), ['a=5,b=5 1']);
  assert.equal(r.cachedKeys, 1);
  set([]);
  assert.deepEqual(plain(r.read(stats())), []);
  assert.equal(r.cachedKeys, 0);
});

test('key cache: skipped label sets are counted on every read; decode errors are counted and not cached', () => {
  const { map, set } = mutableMap({});
  let calls = 0;
  const registry = allDecoders();
  const failing: Decoder = {
    name: 'uint',
    pure: true,
    decode(input) {
      calls++;
      const v = (registry.get('string') as Decoder).decode(input, { name: 'string' });
      if (v === 'x') throw new Error('bad key');
      return v;
    },
  };
  registry.set('uint', failing);
  const r = new MetricReader(
    def({
      labels: [
        { name: 'a', size: 4, decoders: [{ name: 'uint' }] },
        {
          name: 'b',
          size: 4,
          decoders: [{ name: 'string' }, { name: 'regexp', regexps: ['^keep$'] }],
        },
      ],
    }),
    map,
    registry,
    0,
  );
  const k = (a: string, b: string): Buffer =>
    Buffer.concat([Buffer.from(a.padEnd(4, '\0')), Buffer.from(b.padEnd(4, '\0'))]);
  set([
    [k('ok', 'keep'), 1],
    [k('ok2', 'drop'), 2],
    [k('x', 'keep'), 3],
  ]);
  for (let round = 0; round < 3; round++) {
    const s = stats();
    assert.deepEqual(plain(r.read(s)), ['a=ok,b=keep 1']);
    assert.equal(s.skipped, 1);
    assert.equal(s.decodeErrors, 1);
  }
  // ok and ok2 decoded once; the failing key on every read.
  assert.equal(calls, 2 + 3);
});

test('key cache: not used when a decoder the reader runs reads a changing table (ifname, kstack, majorminor)', () => {
  for (const name of ['ifname', 'majorminor'] as const) {
    const { map, set } = mutableMap({});
    let calls = 0;
    const registry = allDecoders();
    registry.set(name, {
      name,
      decode: () => `v${++calls}`,
    });
    const r = new MetricReader(
      def({
        labels: [
          { name: 'a', size: 4, decoders: [{ name: 'uint' }, { name }] },
          { name: 'b', size: 4, decoders: [{ name: 'uint' }] },
        ],
      }),
      map,
      registry,
      0,
    );
    set([[key(1, 1), 1]]);
    assert.deepEqual(plain(r.read(stats())), ['a=v1,b=1 1']);
    // The decoder's answer for the same key changed: the reader asks it again.
    assert.deepEqual(plain(r.read(stats())), ['a=v2,b=1 1']);
    assert.equal(r.cachedKeys, 0);
  }
});

test('key cache: labels left pending for a processor keep their own bytes across reads and reorders', () => {
  const { map, set } = mutableMap({});
  const registry = allDecoders();
  registry.delete('ksym');
  const r = new MetricReader(
    def({ labels: [{ name: 'function', size: 8, decoders: [{ name: 'ksym' }] }] }),
    map,
    registry,
    0,
  );
  const addr = (n: bigint): Buffer => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(n);
    return b;
  };
  const bytesOf = (f: RawFamily): bigint[] =>
    f.points.map((p) => Buffer.from(p.labels[0]?.value as Uint8Array).readBigUInt64LE(0));
  const many = Array.from(
    { length: 40 },
    (_, i) => [addr(0xffffffff81000000n + BigInt(i)), i] as [Buffer, number],
  );
  set(many);
  const first = r.read(stats());
  set(many.slice().reverse());
  const second = r.read(stats());
  assert.deepEqual(bytesOf(second), bytesOf(first).reverse());
  set([[addr(0xffffffff82000000n), 1], ...many]);
  const third = r.read(stats());
  assert.deepEqual(bytesOf(third), [0xffffffff82000000n, ...bytesOf(first)]);
  // The first batch still reads what it read.
  assert.deepEqual(
    bytesOf(first),
    many.map(([k]) => k.readBigUInt64LE(0)),
  );
});

test('key cache: per-CPU series with a cpu label reuse their slot arrays per CPU', () => {
  const { map, set } = mutableMap({ perCpu: true, numCpus: 3, type: 'percpu_hash' });
  const r = new MetricReader(
    def({
      labels: [
        { name: 'a', size: 4, decoders: [{ name: 'uint' }] },
        { name: 'cpu', size: 0, decoders: [] },
        { name: 'b', size: 4, decoders: [{ name: 'uint' }] },
      ],
    }),
    map,
    allDecoders(),
    0,
  );
  set([[key(7, 8), 100]]);
  const first = r.read(stats());
  assert.deepEqual(plain(first), ['a=7,cpu=0,b=8 100', 'a=7,cpu=1,b=8 101', 'a=7,cpu=2,b=8 102']);
  set([[key(7, 8), 200]]);
  const second = r.read(stats());
  assert.deepEqual(plain(second), ['a=7,cpu=0,b=8 200', 'a=7,cpu=1,b=8 201', 'a=7,cpu=2,b=8 202']);
  for (let c = 0; c < 3; c++) assert.equal(second.points[c]?.labels, first.points[c]?.labels);
});
