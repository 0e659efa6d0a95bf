import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BpfMap, MapInfo } from '../../native/index.ts';
import { allDecoders } from '../../decoders/index.ts';
import { assemble } from '../../pipeline/assemble.ts';
import type { ScalarPoint } from '../../pipeline/data.ts';
import { checkLayout, definitionsOf } from './definitions.ts';
import { metricsSchema } from './metrics.ts';
import { mutableMap } from './reader-testing.ts';
import { MetricReader, type MetricDefinition, type ReadStats } from './reader.ts';
import { MetricGroup } from './summed.ts';

/**
 * Keys in values (`key:`) and a metric summed from several maps (a repeated name): the
 * shipped timers programs count in an array of {key, count} slots and fall back to a hash
 * map; the metric is the sum of both.
 */

const labels = [{ name: 'k', size: 8, decoders: [{ name: 'uint' as const }] }];
const hashDef: MetricDefinition = { name: 'hits_total', help: 'h', kind: 'counter', map: 'hits', labels };
const slotDef: MetricDefinition = {
  ...hashDef,
  map: 'hit_slots',
  key: { offset: 0, size: 8 },
  value: { offset: 8, size: 8 },
};

/** An array of `n` {u64 key, u64 count} slots the test sets (one buffer reused by every read, as the addon). */
function slotMap(n: number): { map: BpfMap; set: (slot: number, key: number, count: number) => void } {
  const info: MapInfo = {
    name: 'hit_slots',
    type: 'array',
    keySize: 4,
    valueSize: 16,
    maxEntries: n,
    perCpu: false,
    numCpus: 1,
    valueStride: 16,
  };
  const keys = Buffer.alloc(4 * n);
  for (let i = 0; i < n; i++) keys.writeUInt32LE(i, 4 * i);
  const values = Buffer.alloc(16 * n);
  const map: BpfMap = {
    info,
    readAll: () => ({ count: n, keys, values, method: 'batch' }),
    lookup: () => undefined,
    update: () => undefined,
    delete: () => false,
    updateBatch: () => 0,
  };
  const set = (slot: number, key: number, count: number): void => {
    values.writeBigUInt64LE(BigInt(key), 16 * slot);
    values.writeBigUInt64LE(BigInt(count), 16 * slot + 8);
  };
  return { map, set };
}

const u64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

const stats = (): ReadStats => ({ decodeErrors: 0, skipped: 0 });

test('key in the value: unused slots (key bytes all zero) are skipped, labels cut from the value', () => {
  const { map, set } = slotMap(8);
  set(2, 7, 3);
  set(5, 9, 1);
  const r = new MetricReader(slotDef, map, allDecoders(), 0);
  const f = r.read(stats());
  assert.deepEqual(
    f.points.map((p) => [p.labels.map((l) => l.value).join(), p.value]),
    [
      ['7', 3],
      ['9', 1],
    ],
  );
  assert.equal(r.lastEntries, 2, 'the slots holding a key');
  set(5, 9, 4);
  const again = r.read(stats());
  assert.equal(
    again.columns?.rows,
    f.columns?.rows,
    'the same series table while the slots hold the same keys',
  );
  assert.deepEqual([...(again.columns?.values ?? [])].slice(0, 2), [3, 4]);
  set(0, 11, 1);
  const grown = r.read(stats());
  assert.notEqual(grown.columns?.rows, f.columns?.rows);
  assert.deepEqual(grown.columns?.added, [0], 'the newly claimed slot (first in map order) is new');
  assert.deepEqual(
    r.dump(10, allDecoders()).rows.map((row) => row.replace(/ \(labels.*/, '')),
    ['0b 00 00 00 00 00 00 00', '07 00 00 00 00 00 00 00', '09 00 00 00 00 00 00 00'],
  );
});

test('a metric summed from two maps: one family, equal label sets added up by assemble, one table', () => {
  const hash = mutableMap({ name: 'hits' });
  const slots = slotMap(4);
  const readers = [
    new MetricReader(hashDef, hash.map, allDecoders(), 0),
    new MetricReader(slotDef, slots.map, allDecoders(), 0),
  ];
  const group = new MetricGroup(readers);
  const read = (): ReturnType<MetricGroup['sum']> => group.sum(readers.map((r) => r.read(stats())));
  hash.set([
    [u64(1), 5],
    [u64(2), 6],
  ]);
  slots.set(1, 3, 10);
  slots.set(3, 2, 100); // the same key in both: summed
  const first = read();
  const values = (f: typeof first): Record<string, number> =>
    Object.fromEntries(
      (assemble([f])[0]?.points as ScalarPoint[]).map((p) => [p.labels['k'] as string, p.value]),
    );
  assert.deepEqual(values(first), { '1': 5, '2': 106, '3': 10 });
  assert.deepEqual(first.columns?.added, [0, 1, 2, 3]);
  slots.set(1, 3, 11);
  const second = read();
  assert.equal(second.columns?.rows, first.columns?.rows, 'unchanged parts: the same rows array');
  assert.deepEqual(second.columns?.added, []);
  assert.deepEqual(values(second), { '1': 5, '2': 106, '3': 11 });
  hash.set([[u64(2), 7]]);
  slots.set(0, 4, 1);
  const third = read();
  assert.notEqual(third.columns?.rows, first.columns?.rows);
  assert.deepEqual(third.columns?.added, [1], 'the new slot, after the hash map rows');
  assert.deepEqual(
    third.columns?.removed.map((r) => r.map((l) => l.value).join()),
    ['1'],
  );
  assert.deepEqual(values(third), { '2': 107, '3': 11, '4': 1 });
});

test('key: layout checks against the map', () => {
  const info = slotMap(4).map.info;
  assert.deepEqual(checkLayout(slotDef, info), []);
  assert.match(checkLayout({ ...slotDef, key: { offset: 12, size: 8 } }, info).join(), /past the end/);
  assert.match(checkLayout({ ...slotDef, key: { offset: 0, size: 4 } }, info).join(), /add up to 8 bytes/);
  const perCpu = { ...info, type: 'percpu_array' as const, perCpu: true, numCpus: 2, valueStride: 32 };
  assert.match(checkLayout(slotDef, perCpu).join(), /not per-CPU/);
});

test('a name repeats only for map-read counters or gauges with the same kind, help and labels', () => {
  const hits = { name: 'hits_total', help: 'h', labels };
  const slots = { ...hits, map: 'hit_slots', key: { offset: 0, size: 8 }, value: { offset: 8, size: 8 } };
  const ok = metricsSchema.safeParse({ counters: [hits, slots] });
  assert.ok(ok.success, JSON.stringify(ok.error?.issues));
  assert.deepEqual(
    definitionsOf(ok.data).map((d) => [d.name, d.map]),
    [
      ['hits_total', 'hits_total'],
      ['hits_total', 'hit_slots'],
    ],
  );
  const problems = (m: unknown): string[] => {
    const r = metricsSchema.safeParse(m);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  assert.match(
    problems({ counters: [hits, { ...slots, help: 'other' }] }).join(),
    /counters\.1\.name: .*repeats its kind, help and labels/,
  );
  assert.match(
    problems({ counters: [hits], gauges: [slots] }).join(),
    /gauges\.0\.name: .*already used by counters\[0\]/,
  );
  assert.match(problems({ counters: [hits, hits] }).join(), /the same map the same way/);
  assert.match(problems({ counters: [hits, slots, slots] }).join(), /counters\.2\.name: .*the same map/);
  assert.match(
    problems({
      counters: [hits],
      histograms: [{ ...hits, bucket_type: 'linear', bucket_min: 0, bucket_max: 1 }],
    }).join(),
    /already used by counters\[0\]$/,
  );
  assert.match(problems({ counters: [{ ...slots, labels: [] }] }).join(), /counters\.0\.key: .*add labels/);
  assert.match(
    problems({ counters: [{ ...hits, events: 'rb', key: { offset: 0, size: 8 } }] }).join(),
    /key applies only/,
  );
});
