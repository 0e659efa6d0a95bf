import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BpfMap, MapInfo } from '../../native/index.ts';
import { allDecoders } from '../../decoders/index.ts';
import type { RawPoint } from '../../pipeline/data.ts';
import { checkLayout, checkMapSize } from './definitions.ts';
import { MetricReader, type MetricDefinition } from './reader.ts';
import { LIMITS } from './metrics.ts';

/** A map that returns fixed entries: `values[i]` is entry i's whole value as user space reads it. */
function fakeMap(info: Partial<MapInfo>, keys: Buffer[], values: Buffer[]): BpfMap {
  const full: MapInfo = {
    name: 'm',
    type: 'hash',
    keySize: 4,
    valueSize: 8,
    maxEntries: 16,
    perCpu: false,
    numCpus: 1,
    valueStride: 8,
    ...info,
  };
  return {
    info: full,
    readAll: () => ({
      count: keys.length,
      keys: Buffer.concat(keys),
      values: Buffer.concat(values),
      method: 'batch',
    }),
    lookup: () => undefined,
    update: () => undefined,
    delete: () => false,
    updateBatch: () => 0,
  };
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};

const def = (d: Partial<MetricDefinition>): MetricDefinition => ({
  name: 'm',
  help: 'h',
  kind: 'counter',
  map: 'm',
  labels: [],
  ...d,
});

function points(d: MetricDefinition, map: BpfMap): { labels: Record<string, unknown>; value: number }[] {
  const r = new MetricReader(d, map, allDecoders(), 0);
  return r.read({ decodeErrors: 0, skipped: 0 }).points.map((p: RawPoint) => ({
    labels: Object.fromEntries(p.labels.map((l) => [l.name, l.value])),
    value: p.value,
  }));
}

test('u64 values are exact up to 2^53 and never wrap above it', () => {
  const m = fakeMap({}, [u32(0)], [u64(2n ** 53n)]);
  assert.deepEqual(points(def({}), m), [{ labels: {}, value: 2 ** 53 }]);
  const big = fakeMap({}, [u32(0)], [u64(2n ** 64n - 1n)]);
  assert.equal(points(def({}), big)[0]?.value, 2 ** 64);
  const exact = fakeMap({}, [u32(0)], [u64(2n ** 53n - 1n)]);
  assert.equal(points(def({}), exact)[0]?.value, Number.MAX_SAFE_INTEGER);
});

test('no labels: only key u32 0 is read', () => {
  const m = fakeMap({ type: 'array' }, [u32(0), u32(1)], [u64(5n), u64(1000n)]);
  assert.deepEqual(points(def({}), m), [{ labels: {}, value: 5 }]);
});

test('struct values: u64 and u32 slices at their offsets', () => {
  const value = Buffer.concat([u64(7n), u64(2n ** 40n + 3n), u32(0xfffffffe), u32(9)]);
  const m = fakeMap({ valueSize: 24, valueStride: 24 }, [u32(0)], [value]);
  assert.equal(points(def({ value: { offset: 0, size: 8 } }), m)[0]?.value, 7);
  assert.equal(points(def({ value: { offset: 8, size: 8 } }), m)[0]?.value, 2 ** 40 + 3);
  assert.equal(points(def({ value: { offset: 16, size: 4 } }), m)[0]?.value, 0xfffffffe);
  assert.equal(points(def({ value: { offset: 20, size: 4 } }), m)[0]?.value, 9);
});

test('per-CPU struct values: each CPU is round_up(value_size, 8) bytes; summed, or one series per CPU', () => {
  // value_size 12 → 16 bytes per CPU; two CPUs; u32 at offset 8.
  const cpu = (a: bigint, b: number): Buffer => Buffer.concat([u64(a), u32(b), Buffer.alloc(4, 0xff)]);
  const info = { type: 'percpu_array', perCpu: true, numCpus: 2, valueSize: 12, valueStride: 32 };
  const m = fakeMap(info, [u32(0)], [Buffer.concat([cpu(1n, 10), cpu(2n, 20)])]);
  assert.deepEqual(points(def({ value: { offset: 0, size: 8 } }), m), [{ labels: {}, value: 3 }]);
  assert.deepEqual(points(def({ value: { offset: 8, size: 4 } }), m), [{ labels: {}, value: 30 }]);
  const cpuLabel = { name: 'cpu', size: 2, decoders: [{ name: 'uint' as const }] };
  assert.deepEqual(points(def({ labels: [cpuLabel], value: { offset: 8, size: 4 } }), m), [
    { labels: { cpu: '0' }, value: 10 },
    { labels: { cpu: '1' }, value: 20 },
  ]);
});

test('per-CPU histogram: the cpu label goes where it is declared, the bucket stays last', () => {
  const info = { type: 'percpu_hash', perCpu: true, numCpus: 2, keySize: 8, valueStride: 16 };
  const m = fakeMap(info, [u64(3n)], [Buffer.concat([u64(4n), u64(6n)])]);
  const labels = [
    { name: 'cpu', size: 2, decoders: [{ name: 'uint' as const }] },
    { name: 'bucket', size: 8, decoders: [{ name: 'uint' as const }] },
  ];
  const d = def({
    kind: 'histogram',
    labels,
    histogram: { bucketType: 'exp2', bucketMin: 0, bucketMax: 4, bucketMultiplier: 1, bucketKeys: [] },
  });
  assert.deepEqual(checkLayout(d, m.info), []);
  assert.deepEqual(points(d, m), [
    { labels: { cpu: '0', bucket: '3' }, value: 4 },
    { labels: { cpu: '1', bucket: '3' }, value: 6 },
  ]);
});

test('layout: value slices must fit the value; without value: it must be a u64', () => {
  const info = fakeMap({ valueSize: 12 }, [], []).info;
  assert.deepEqual(checkLayout(def({ value: { offset: 8, size: 4 } }), info), []);
  assert.deepEqual(checkLayout(def({ value: { offset: 8, size: 8 } }), info), [
    'metric m: value offset 8 + size 8 = 16 is past the end of the map value (12 bytes)',
  ]);
  assert.equal(checkLayout(def({}), info).length, 1);
  assert.deepEqual(checkLayout(def({ name: 'x_total', map: 'm' }), undefined), [
    'metric x_total: the object has no map named "m" (its map:)',
  ]);
});

test('map size: at most LIMITS.mapEntries series per metric map (times the CPUs with a cpu label)', () => {
  const at = (info: Partial<MapInfo>): MapInfo => fakeMap(info, [], []).info;
  assert.deepEqual(checkMapSize(def({}), at({ maxEntries: LIMITS.mapEntries })), []);
  assert.deepEqual(checkMapSize(def({}), at({ maxEntries: 1 << 24 })), [
    `metric m: map "m" has max_entries 16777216; a map a metric reads may hold at most ${LIMITS.mapEntries} series (every entry is read at every collection)`,
  ]);
  const perCpu = at({ type: 'percpu_hash', perCpu: true, numCpus: 4, maxEntries: LIMITS.mapEntries / 2 });
  assert.deepEqual(checkMapSize(def({}), perCpu), [], 'summed over CPUs: one series per entry');
  const byCpu = def({ labels: [{ name: 'cpu', size: 4, decoders: [{ name: 'uint' }] }] });
  assert.equal(checkMapSize(byCpu, perCpu).length, 1, 'a cpu label: one series per entry and CPU');
  assert.deepEqual(checkMapSize(def({}), undefined), [], 'a missing map is checkLayout’s to report');
});

test('pending label bytes are copies: the next read (which reuses the batch buffer) cannot change them', () => {
  // The addon's readAll reuses one buffer per map; labels left pending for a processor
  // (here ksym, not in this registry) must keep their own bytes.
  const shared = Buffer.alloc(8);
  const map = fakeMap({ keySize: 8 }, [], []);
  const read = (): Uint8Array => {
    const registry = allDecoders();
    registry.delete('ksym');
    const r = new MetricReader(
      def({ labels: [{ name: 'function', size: 8, decoders: [{ name: 'ksym' }] }] }),
      { ...map, readAll: () => ({ count: 1, keys: shared, values: u64(5n), method: 'batch' }) },
      registry,
      0,
    );
    const slot = r.read({ decodeErrors: 0, skipped: 0 }).points[0]?.labels[0];
    assert.ok(slot && typeof slot.value !== 'string' && slot.pending.length === 1);
    return slot.value;
  };
  shared.writeBigUInt64LE(0xffffffff81000000n);
  const kept = read();
  shared.writeBigUInt64LE(0xffffffff82000000n);
  read();
  assert.equal(Buffer.from(kept).readBigUInt64LE(0), 0xffffffff81000000n);
});

test('u64 values beyond 2^53 read as Number(BigInt) gives them (nearest double)', () => {
  for (const v of [2n ** 53n + 1n, 2n ** 53n + 3n, 2n ** 64n - 1n, 2n ** 63n + 1025n, 123456789n]) {
    assert.deepEqual(
      points(def({ labels: [] }), fakeMap({}, [u32(0)], [u64(v)])).map((p) => p.value),
      [Number(v)],
    );
  }
});
