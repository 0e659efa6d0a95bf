/** ebpf_exporter's --config.skip-cache-size: keys a decoder dropped are remembered, bounded, least recent out. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BpfMap } from '../../native/index.ts';
import { allDecoders } from '../../decoders/index.ts';
import type { Decoder } from '../../decoders/decoder.ts';
import { MetricReader, type MetricDefinition, type ReadStats } from './reader.ts';
import { mutableMap } from './reader-testing.ts';

/** A map of u32 keys, each with the value key × 10. */
function mapOf(keys: readonly number[]): BpfMap {
  const { map, set } = mutableMap({ keySize: 4 });
  set(
    keys.map((x) => {
      const k = Buffer.alloc(4);
      k.writeUInt32LE(x);
      return [k, x * 10];
    }),
  );
  return map;
}

/** A registry whose `ifname` is impure (as the real one: interfaces come and go) and counts its calls. */
function countingRegistry(): { registry: Map<string, Decoder>; calls: () => number } {
  let calls = 0;
  const registry = allDecoders();
  registry.set('ifname', {
    name: 'ifname',
    decode(input) {
      calls++;
      const n = Buffer.from(input as Uint8Array).readUInt32LE(0);
      return n === 1 ? 'lo' : `unknown:${n}`;
    },
  });
  return { registry, calls: () => calls };
}

const def: MetricDefinition = {
  name: 'm',
  help: 'h',
  kind: 'counter',
  map: 'm',
  labels: [
    {
      name: 'device',
      size: 4,
      decoders: [{ name: 'ifname' }, { name: 'regexp', regexps: ['^lo$'] }],
    },
  ],
};

const stats = (): ReadStats => ({ decodeErrors: 0, skipped: 0 });

test('off (0): a dropped key is decoded again on every read', () => {
  const { registry, calls } = countingRegistry();
  const reader = new MetricReader(def, mapOf([1, 2, 3, 4]), registry, 0);
  reader.read(stats());
  reader.read(stats());
  assert.equal(calls(), 8);
  assert.equal(reader.skippedKeys, 0);
});

test('on: dropped keys are not decoded again; kept ones still are (their decoder reads a changing table)', () => {
  const { registry, calls } = countingRegistry();
  const reader = new MetricReader(def, mapOf([1, 2, 3, 4]), registry, 0, { skipCacheSize: 16 });
  const first = stats();
  const f = reader.read(first);
  assert.deepEqual(
    f.points.map((p) => [p.labels[0]?.value, p.value]),
    [['lo', 10]],
  );
  assert.equal(first.skipped, 3);
  assert.equal(calls(), 4);
  assert.equal(reader.skippedKeys, 3);
  const second = stats();
  const g = reader.read(second);
  assert.equal(g.points.length, 1);
  assert.equal(second.skipped, 3, 'still dropped, and counted as such');
  assert.equal(calls(), 5, 'only the kept key was decoded again');
});

test('bounded: past the size the least recently seen dropped key is forgotten', () => {
  const { registry, calls } = countingRegistry();
  const reader = new MetricReader(def, mapOf([2, 3, 4]), registry, 0, { skipCacheSize: 2 });
  reader.read(stats());
  assert.equal(reader.skippedKeys, 2);
  assert.equal(calls(), 3);
  // 2 was pushed out by 4; 3 and 4 are remembered. Read in the same order, each key misses in
  // turn (2 pushes 3 out, 3 pushes 4 out, ...): LRU's known cycle, paid in decodes, never in memory.
  const s = stats();
  assert.equal(reader.read(s).points.length, 0);
  assert.equal(s.skipped, 3);
  assert.equal(calls(), 6);
  assert.equal(reader.skippedKeys, 2);
  // A read of only the remembered keys decodes nothing.
  const again = new MetricReader(def, mapOf([3, 4]), registry, 0, { skipCacheSize: 2 });
  again.read(stats());
  again.read(stats());
  assert.equal(calls(), 8);
});

test('with pure decoders the key cache already keeps dropped keys: no second cache', () => {
  const registry = allDecoders();
  const pure: MetricDefinition = {
    ...def,
    labels: [{ name: 'n', size: 4, decoders: [{ name: 'uint' }, { name: 'regexp', regexps: ['^1$'] }] }],
  };
  const reader = new MetricReader(pure, mapOf([1, 2, 3]), registry, 0, { skipCacheSize: 16 });
  const s = stats();
  assert.equal(reader.read(s).points.length, 1);
  assert.equal(s.skipped, 2);
  assert.equal(reader.skippedKeys, 0);
  assert.equal(reader.cachedKeys, 3, 'dropped keys are in the key cache while live');
});
