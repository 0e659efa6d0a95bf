/**
 * readAll() on the same 100k-entry hash as batch_floor.c, best of 10:
 *   node bench/floor/readall.ts
 */
import { fileURLToPath } from 'node:url';
import { openObject } from '../../src/native/index.ts';

const N = 100_000;
const obj = openObject(fileURLToPath(new URL('../../build/bpf/addon_test.bpf.o', import.meta.url))).load();
try {
  const map = obj.map('big_hash');
  const keys = Buffer.alloc(4 * N);
  const values = Buffer.alloc(8 * N);
  for (let i = 0; i < N; i++) {
    keys.writeUInt32LE(i, 4 * i);
    values.writeBigUInt64LE(BigInt(i + 5), 8 * i);
  }
  map.updateBatch(keys, values);
  let best = Infinity;
  for (let rep = 0; rep < 10; rep++) {
    const t0 = process.hrtime.bigint();
    const b = map.readAll();
    const ns = Number(process.hrtime.bigint() - t0);
    if (b.count !== N) throw new Error(`read ${b.count}`);
    best = Math.min(best, ns);
  }
  console.log(`readAll: ${(best / 1e6).toFixed(1)} ms (${(best / N).toFixed(0)} ns/entry)`);
} finally {
  obj.close();
}
