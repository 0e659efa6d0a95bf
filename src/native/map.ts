/**
 * Maps of a loaded object (native/map.cc).
 */
import { CollectorError } from '../errors.ts';
import type { NativeObjectHandle } from './addon.ts';
import { fail } from './errors.ts';
import type { BpfMap, MapBatch, MapInfo } from './types.ts';

// ---------------------------------------------------------------------------
// Maps.

const UPDATE_FLAGS = { any: 0, noexist: 1, exist: 2 } as const;

/** Entries the first read of a map makes room for; buffers then grow to the live count. */
const INITIAL_READ_ENTRIES = 1024;

/** A loaded map. Whole-map reads reuse one pair of buffers that grows to the live count. */
/** What a map needs of the object that holds it (LoadedObject). */
interface MapOwner {
  checkOpen(what: string): void;
}

export class LiveMap implements BpfMap {
  readonly info: MapInfo;
  #owner: MapOwner;
  #handle: NativeObjectHandle;
  #index: number;
  #keys: Buffer = Buffer.alloc(0);
  #values: Buffer = Buffer.alloc(0);

  constructor(owner: MapOwner, handle: NativeObjectHandle, index: number, info: MapInfo) {
    this.#owner = owner;
    this.#handle = handle;
    this.#index = index;
    this.info = info;
  }

  #what(verb: string): string {
    return `${verb} map ${this.info.name}`;
  }

  #checkSize(verb: string, name: string, buf: Buffer, want: number): void {
    if (buf.length !== want) {
      throw new CollectorError(
        'ERR_BPF_MAP',
        `${this.#what(verb)}: ${name} is ${buf.length} bytes, the map's ${name} size is ${want}`,
      );
    }
  }

  readAll(): MapBatch {
    const what = this.#what('read');
    this.#owner.checkOpen(what);
    const { keySize, valueStride, type } = this.info;
    if (type === 'ringbuf' || keySize === 0 || valueStride === 0) {
      throw new CollectorError(
        'ERR_BPF_MAP',
        `${what}: a ${type} map has no entries to read (use ringBuffer())`,
      );
    }
    if (this.#keys.length === 0) this.#grow(Math.min(this.info.maxEntries, INITIAL_READ_ENTRIES) || 1, 0);
    let n: number;
    try {
      n = this.#handle.mapRead(this.#index, this.#keys, this.#values, 0, false);
      while (n < 0) {
        const have = -1 - n;
        this.#grow(Math.max(2 * this.#capacity(), have + 1), have);
        n = this.#handle.mapRead(this.#index, this.#keys, this.#values, have, true);
      }
    } catch (err) {
      throw fail('ERR_BPF_MAP', what, err);
    }
    return {
      count: n,
      keys: this.#keys.subarray(0, n * keySize),
      values: this.#values.subarray(0, n * valueStride),
      method: this.#handle.mapReadMethod(this.#index),
    };
  }

  #capacity(): number {
    return Math.floor(this.#keys.length / this.info.keySize);
  }

  /** Room for `entries` entries, keeping the first `keep`. */
  #grow(entries: number, keep: number): void {
    const keys = Buffer.allocUnsafe(entries * this.info.keySize);
    const values = Buffer.allocUnsafe(entries * this.info.valueStride);
    this.#keys.copy(keys, 0, 0, keep * this.info.keySize);
    this.#values.copy(values, 0, 0, keep * this.info.valueStride);
    this.#keys = keys;
    this.#values = values;
  }

  lookup(key: Buffer): Buffer | undefined {
    const what = this.#what('look up in');
    this.#owner.checkOpen(what);
    this.#checkSize('look up in', 'key', key, this.info.keySize);
    const out = Buffer.alloc(this.info.valueStride);
    try {
      return this.#handle.mapLookup(this.#index, key, out) ? out : undefined;
    } catch (err) {
      throw fail('ERR_BPF_MAP', what, err);
    }
  }

  update(key: Buffer, value: Buffer, flags: 'any' | 'noexist' | 'exist' = 'any'): void {
    const what = this.#what('update');
    this.#owner.checkOpen(what);
    this.#checkSize('update', 'key', key, this.info.keySize);
    this.#checkSize('update', 'value', value, this.info.valueStride);
    try {
      this.#handle.mapUpdate(this.#index, key, value, UPDATE_FLAGS[flags]);
    } catch (err) {
      throw fail('ERR_BPF_MAP', what, err);
    }
  }

  updateBatch(keys: Buffer, values: Buffer, flags: 'any' | 'noexist' | 'exist' = 'any'): number {
    const what = this.#what('batch update');
    this.#owner.checkOpen(what);
    const count = keys.length / this.info.keySize;
    if (!Number.isInteger(count) || values.length !== count * this.info.valueStride) {
      throw new CollectorError(
        'ERR_BPF_MAP',
        `${what}: ${keys.length} key bytes and ${values.length} value bytes are not whole entries of ${this.info.keySize} + ${this.info.valueStride} bytes`,
      );
    }
    if (count === 0) return 0;
    try {
      return this.#handle.mapUpdateBatch(this.#index, keys, values, count, UPDATE_FLAGS[flags]);
    } catch (err) {
      throw fail('ERR_BPF_MAP', what, err);
    }
  }

  delete(key: Buffer): boolean {
    const what = this.#what('delete from');
    this.#owner.checkOpen(what);
    this.#checkSize('delete from', 'key', key, this.info.keySize);
    try {
      return this.#handle.mapDelete(this.#index, key);
    } catch (err) {
      throw fail('ERR_BPF_MAP', what, err);
    }
  }
}
