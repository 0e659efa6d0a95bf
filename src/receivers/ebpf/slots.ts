import type { MapBatch } from '../../native/index.ts';
import type { KeyConfig } from './metrics.ts';

/**
 * Maps whose keys are in their values (`key: { offset, size }`): an array of slots, each
 * holding a key and its count, that a program fills (a slot claimed by writing its key).
 * Reading one is a batch of the entries that hold a key — key bytes not all zero, in map
 * order — with the key bytes gathered out of each value, so the reader cuts labels from them
 * as from map keys. Buffers are kept and reused across reads, as the addon's are.
 */
export class SlotBuffers {
  private keys = Buffer.alloc(0);
  private values = Buffer.alloc(0);

  gather(raw: MapBatch, stride: number, key: KeyConfig): MapBatch {
    const { offset, size } = key;
    if (this.keys.length < raw.count * size) this.keys = Buffer.allocUnsafeSlow(raw.count * size);
    if (this.values.length < raw.count * stride) this.values = Buffer.allocUnsafeSlow(raw.count * stride);
    let n = 0;
    for (let i = 0; i < raw.count; i++) {
      const at = i * stride + offset;
      if (isZero(raw.values, at, size)) continue;
      raw.values.copy(this.keys, n * size, at, at + size);
      raw.values.copy(this.values, n * stride, i * stride, (i + 1) * stride);
      n++;
    }
    return { count: n, keys: this.keys, values: this.values, method: raw.method };
  }
}

function isZero(buf: Buffer, at: number, size: number): boolean {
  let i = 0;
  for (; i + 4 <= size; i += 4) if (buf.readUInt32LE(at + i) !== 0) return false;
  for (; i < size; i++) if (buf[at + i] !== 0) return false;
  return true;
}
