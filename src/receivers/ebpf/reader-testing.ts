/** Test fixtures for the metric reader: a fake map whose entries a test sets between reads. */
import type { BpfMap, MapInfo } from '../../native/index.ts';

/** A map whose entries the test sets between reads (keys and u64 values, in order). */
export function mutableMap(info: Partial<MapInfo>): {
  map: BpfMap;
  set: (entries: [Buffer, number][]) => void;
} {
  let entries: [Buffer, number][] = [];
  const full: MapInfo = {
    name: 'm',
    type: 'hash',
    keySize: 8,
    valueSize: 8,
    maxEntries: 64,
    perCpu: false,
    numCpus: 1,
    ...info,
    // The bytes of one entry's values (every CPU's for a per-CPU map), as the addon reports it.
    valueStride: info.valueStride ?? 8 * (info.numCpus ?? 1),
  };
  // One buffer reused by every read, as the addon does; bytes past the entries are poisoned.
  const keys = Buffer.alloc(full.keySize * full.maxEntries);
  const values = Buffer.alloc(full.valueStride * full.maxEntries);
  const map: BpfMap = {
    info: full,
    readAll: () => {
      keys.fill(0xee);
      entries.forEach(([k, v], i) => {
        k.copy(keys, i * full.keySize);
        for (let c = 0; c < full.numCpus; c++)
          values.writeBigUInt64LE(BigInt(v + c), i * full.valueStride + c * 8);
      });
      return { count: entries.length, keys, values, method: 'batch' };
    },
    lookup: () => undefined,
    update: () => undefined,
    delete: () => false,
    updateBatch: () => 0,
  };
  return { map, set: (e) => (entries = e) };
}

/** An 8-byte key of two u32s. */
export const key = (a: number, b: number): Buffer => {
  const k = Buffer.alloc(8);
  k.writeUInt32LE(a, 0);
  k.writeUInt32LE(b, 4);
  return k;
};
