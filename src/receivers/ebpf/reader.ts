import { endianness } from 'node:os';
import type { BpfMap, MapBatch } from '../../native/index.ts';
import type { DecoderSpec, LabelSlot, RawFamily, RawPoint } from '../../pipeline/data.ts';
import { SKIP, resumeChain, type DecoderRegistry } from '../../decoders/decoder.ts';
import { NONE, rawColumnsFamily } from '../../pipeline/series.ts';
import { keyLabelsOf, type MetricDefinition } from './definitions.ts';
import { SlotBuffers } from './slots.ts';
import type { LabelConfig } from './metrics.ts';

export type { MetricDefinition } from './definitions.ts';

export interface ReadStats {
  decodeErrors: number;
  skipped: number;
  lastDecodeError?: string;
}

export class MetricReader {
  readonly def: MetricDefinition;
  private readonly map: BpfMap;
  private readonly registry: DecoderRegistry;
  private readonly keyLabels: readonly LabelConfig[];
  private readonly cpuLabelAt: number;
  private readonly pendingOf: readonly (readonly DecoderSpec[])[];
  private readonly valueOffset: number;
  private readonly valueSize: 4 | 8;
  /** Bytes of one key: the map's, or with `key:` the slice of the value the labels cut. */
  private readonly keySize: number;
  readonly startTimeMs: number;
  /** Entries the last read found (hash maps: live entries; arrays: max_entries; with `key:`, slots holding a key). */
  lastEntries = 0;
  /**
   * Decoded label slots per key (key bytes as a latin1 string), kept across reads: a key's
   * labels are stable, only its value changes, so a key seen before costs one Map lookup and
   * allocates nothing but its point. Only when every decoder this reader runs is a pure
   * function of its input (undefined otherwise: ifname, kstack, majorminor read tables that
   * change). Keys absent from a read are forgotten, so it holds the live keys only.
   */
  private readonly keyCache: Map<string, KeyEntry> | undefined;
  private readGeneration = 0;
  /**
   * The previous read's keys and their entries by position: a hash map's batch read returns
   * its keys in the same order while the map is unchanged, so a key equal to the one at the
   * same position last time takes that entry without a key string or a Map lookup.
   */
  private prevKeys: Buffer = Buffer.alloc(0);
  private prevEntries: (KeyEntry | undefined)[] = [];
  private prevCount = 0;
  /**
   * With the key cache, the families are series tables (pipeline/series.ts): the label slots
   * of each row, the same array while the series and their order are unchanged.
   */
  private prevRows: readonly (readonly LabelSlot[])[] = NONE;
  /** Whether every key of the previous read has its entry (no decode error to count again). */
  private prevClean = false;

  get capacity(): number {
    return this.map.info.maxEntries;
  }

  /** The kernel map type as libbpf names it ('hash', 'percpu_array', …): arrays are always full. */
  get mapType(): string {
    return this.map.info.type;
  }

  /**
   * Keys whose label set a decoder dropped (regexp no-match), least recently seen first:
   * ebpf_exporter's `--config.skip-cache-size`. Only without the key cache, which already
   * keeps every live key's outcome, dropped ones included. Undefined: off.
   */
  private readonly skipCache: Map<string, true> | undefined;
  private readonly skipCacheSize: number;

  constructor(
    def: MetricDefinition,
    map: BpfMap,
    registry: DecoderRegistry,
    startTimeMs: number,
    options: { readonly skipCacheSize?: number } = {},
  ) {
    this.def = def;
    this.map = map;
    this.registry = registry;
    this.startTimeMs = startTimeMs;
    this.keyLabels = keyLabelsOf(def, map.info);
    this.cpuLabelAt = map.info.perCpu ? def.labels.findIndex((l) => l.name === 'cpu') : -1;
    this.pendingOf = def.labels.map((l) => l.decoders.map(toDecoderSpec));
    this.valueOffset = def.value?.offset ?? 0;
    this.valueSize = def.value?.size ?? 8;
    this.keySize = def.key?.size ?? map.info.keySize;
    this.keyCache = this.keyLabels.length > 0 && this.decodersArePure() ? new Map() : undefined;
    this.skipCacheSize = options.skipCacheSize ?? 0;
    this.skipCache =
      this.skipCacheSize > 0 && !this.keyCache && this.keyLabels.length > 0 ? new Map() : undefined;
  }

  /**
   * The map's entries; with `key:` (keys in the values) only those holding a key, their key
   * bytes gathered from the values (slots.ts).
   */
  private batch(): MapBatch {
    const raw = this.map.readAll();
    if (!this.def.key) return raw;
    this.slots ??= new SlotBuffers();
    return this.slots.gather(raw, this.map.info.valueStride, this.def.key);
  }

  private slots: SlotBuffers | undefined;

  /** Keys remembered as dropped (tests). */
  get skippedKeys(): number {
    return this.skipCache?.size ?? 0;
  }

  /** Whether every decoder the receiver itself runs on these labels is pure (see keyCache). */
  private decodersArePure(): boolean {
    for (const chain of this.pendingOf) {
      for (const spec of chain) {
        const decoder = this.registry.get(spec.name);
        if (!decoder) break; // the rest is a processor's
        if (!decoder.pure) return false;
      }
    }
    return true;
  }

  /** Keys whose decoded slots are cached (tests). */
  get cachedKeys(): number {
    return this.keyCache?.size ?? 0;
  }

  read(stats: ReadStats): RawFamily {
    const info = this.map.info;
    const keySize = this.keySize;
    const batch = this.batch();
    this.lastEntries = batch.count;
    const cache = this.keyCache;
    if (cache && this.prevClean && this.cpuLabelAt < 0 && batch.count === this.prevCount) {
      // The same keys in the same order as the last read (one compare of the whole batch):
      // the same rows, only values to read.
      const bytes = batch.count * keySize;
      if (batch.keys.compare(this.prevKeys, 0, bytes, 0, bytes) === 0) return this.valuesOnly(batch, stats);
    }
    const points: RawPoint[] = [];
    const noLabels = this.keyLabels.length === 0;
    const generation = ++this.readGeneration;
    let live = 0;
    // Label bytes left pending (decoded later by a processor) must outlive this read: the
    // batch buffer is reused by the next one. They are views into one copy per read (of all
    // keys without the cache, of the new keys with it), never a small Buffer per label:
    // decoders read `.buffer`, which V8 makes slow for small on-heap typed arrays.
    let keys = batch.keys;
    if (!noLabels && !cache) keys = Buffer.from(batch.keys.subarray(0, batch.count * keySize));
    let fresh: Buffer | undefined;
    let freshAt = 0;
    const step = Math.ceil(info.valueSize / 8) * 8;
    // 32-bit views of the batch for the hot comparisons and values (when aligned).
    this.values32 = words(batch.values, info.valueStride, this.valueOffset);
    const keys32 = cache ? words(keys, keySize, 0) : undefined;
    const prev32 = keys32 ? words(this.prevKeys, keySize, 0) : undefined;
    const keyWords = keySize >> 2;
    // The series table (with the cache): rows stay the previous array until one differs.
    const prevRows = this.prevRows;
    let rows: (readonly LabelSlot[])[] | undefined;
    let r = 0;
    const values = cache
      ? new Float64Array(batch.count * (this.cpuLabelAt >= 0 ? info.numCpus : 1))
      : undefined;
    let added: number[] | undefined;
    let clean = true;
    const row = (labels: readonly LabelSlot[], value: number): void => {
      if (rows === undefined) {
        if (prevRows[r] === labels) {
          (values as Float64Array)[r++] = value;
          return;
        }
        rows = prevRows.slice(0, r);
      }
      rows.push(labels);
      (values as Float64Array)[r++] = value;
    };
    for (let i = 0; i < batch.count; i++) {
      const keyAt = i * keySize;
      if (noLabels && keys.readUInt32LE(keyAt) !== 0) continue;
      const valueAt = i * info.valueStride + this.valueOffset;
      let entry: KeyEntry | undefined;
      let slots: LabelSlot[] | undefined;
      if (cache) {
        entry = i < this.prevCount ? this.prevEntries[i] : undefined;
        if (
          entry !== undefined &&
          !(keys32 !== undefined && prev32 !== undefined
            ? sameWords(keys32, prev32, keyAt >> 2, keyWords)
            : sameKey(keys, this.prevKeys, keyAt, keySize))
        )
          entry = undefined;
        const id = entry === undefined ? keys.toString('latin1', keyAt, keyAt + keySize) : '';
        entry ??= cache.get(id);
        if (entry === undefined) {
          // New key: its bytes go into this read's copy of new keys, made on first need.
          // Slabs grow with the new keys of a read (16, 32, 64… keys): few per read, and a
          // long-lived key keeps at most a small slab alive however the map churns.
          if (fresh === undefined || freshAt === fresh.length) {
            const room = Math.min(batch.count - i, fresh === undefined ? 16 : (2 * fresh.length) / keySize);
            fresh = Buffer.allocUnsafeSlow(room * keySize);
            freshAt = 0;
          }
          keys.copy(fresh, freshAt, keyAt, keyAt + keySize);
          const decoded = this.tryDecode(fresh, freshAt, stats);
          freshAt += keySize;
          if (decoded === ERROR) {
            this.prevEntries[i] = undefined;
            clean = false;
            continue; // not cached: it is counted on every read
          }
          entry = { slots: decoded, perCpu: undefined, seen: generation };
          cache.set(id, entry);
          live++;
          if (decoded) (added ??= []).push(r);
        } else if (entry.seen !== generation) {
          entry.seen = generation;
          live++;
        }
        this.prevEntries[i] = entry;
        slots = entry.slots;
      } else {
        const skip = this.skipCache;
        const id = skip ? keys.toString('latin1', keyAt, keyAt + keySize) : '';
        if (skip?.delete(id)) {
          skip.set(id, true); // most recently seen last
          stats.skipped++;
          continue;
        }
        const decoded = this.tryDecode(keys, keyAt, stats);
        if (decoded === ERROR) continue;
        if (decoded === undefined && skip) {
          skip.set(id, true);
          if (skip.size > this.skipCacheSize) skip.delete(skip.keys().next().value as string);
        }
        slots = decoded;
      }
      if (!slots) {
        stats.skipped++;
        continue;
      }
      if (!info.perCpu) {
        if (cache) row(slots, this.number(batch.values, valueAt));
        else points.push({ labels: slots, value: this.number(batch.values, valueAt) });
        continue;
      }
      if (this.cpuLabelAt < 0) {
        let sum = 0;
        for (let c = 0; c < info.numCpus; c++) sum += this.number(batch.values, valueAt + c * step);
        if (cache) row(slots, sum);
        else points.push({ labels: slots, value: sum });
        continue;
      }
      const withCpu = entry
        ? (entry.perCpu ??= this.perCpuSlots(slots, info.numCpus))
        : this.perCpuSlots(slots, info.numCpus);
      if (cache && added !== undefined && added[added.length - 1] === r)
        for (let c = 1; c < info.numCpus; c++) added.push(r + c);
      for (let c = 0; c < info.numCpus; c++) {
        const labels = withCpu[c] as LabelSlot[];
        const value = this.number(batch.values, valueAt + c * step);
        if (cache) row(labels, value);
        else points.push({ labels, value });
      }
    }
    let removed: (readonly LabelSlot[])[] | undefined;
    if (cache) {
      if (live !== cache.size)
        for (const [id, e] of cache) {
          if (e.seen === generation) continue;
          cache.delete(id);
          if (e.perCpu) (removed ??= []).push(...e.perCpu);
          else if (e.slots) (removed ??= []).push(e.slots);
        }
      const bytes = batch.count * keySize;
      if (this.prevKeys.length < bytes) this.prevKeys = Buffer.allocUnsafe(bytes);
      batch.keys.copy(this.prevKeys, 0, 0, bytes);
      this.prevCount = batch.count;
      this.prevEntries.length = batch.count;
      this.prevClean = clean;
      if (rows === undefined && r !== prevRows.length) rows = prevRows.slice(0, r);
      const table = rows ?? prevRows;
      this.prevRows = table;
      return rawColumnsFamily(this.meta(), {
        rows: table,
        values: values as Float64Array,
        added: added ?? NONE,
        removed: removed ?? NONE,
      });
    }
    return { ...this.meta(), points };
  }

  /**
   * A read whose keys are the previous read's, in the same order, every one with its entry:
   * the previous table with this read's values (a key a decoder dropped still counts as
   * skipped). Per-CPU values are summed (a `cpu` label takes the full path).
   */
  private valuesOnly(batch: MapBatch, stats: ReadStats): RawFamily {
    const info = this.map.info;
    const rows = this.prevRows;
    const values = new Float64Array(rows.length);
    const step = Math.ceil(info.valueSize / 8) * 8;
    const entries = this.prevEntries;
    const w = (this.values32 = words(batch.values, info.valueStride, this.valueOffset));
    // A row for every key: no key's labels were dropped, so no entry needs looking at (they
    // are objects all over the heap, mostly out of the cache by the next scrape: one miss
    // per key cost more than the values themselves).
    const everyKey = rows.length === batch.count;
    if (everyKey && !info.perCpu && w !== undefined && this.valueSize === 8) {
      const stride = info.valueStride >> 2;
      for (let i = 0, at = this.valueOffset >> 2; i < batch.count; i++, at += stride)
        values[i] = (w[at] as number) + (w[at + 1] as number) * 4294967296;
      return rawColumnsFamily(this.meta(), { rows, values, added: NONE, removed: NONE });
    }
    let r = 0;
    for (let i = 0; i < batch.count; i++) {
      if (!everyKey && (entries[i] as KeyEntry).slots === undefined) {
        stats.skipped++;
        continue;
      }
      const valueAt = i * info.valueStride + this.valueOffset;
      if (!info.perCpu) values[r++] = this.number(batch.values, valueAt);
      else {
        let sum = 0;
        for (let c = 0; c < info.numCpus; c++) sum += this.number(batch.values, valueAt + c * step);
        values[r++] = sum;
      }
    }
    return rawColumnsFamily(this.meta(), { rows, values, added: NONE, removed: NONE });
  }

  private meta(): Omit<RawFamily, 'points' | 'columns'> {
    return {
      name: this.def.name,
      help: this.def.help,
      kind: this.def.kind,
      histogram: this.def.histogram,
      startTimeMs: this.startTimeMs,
    };
  }

  /**
   * The `/maps` debug dump of this metric's map (ebpf_exporter's --debug): at most `limit`
   * entries, each `raw key bytes (labels: [...]) -> value`, labels decoded to the end with
   * `full` (every decoder); a key a decoder drops or fails on says so instead.
   */
  dump(limit: number, full: DecoderRegistry): { rows: string[]; total: number } {
    const info = this.map.info;
    const keySize = this.keySize;
    const batch = this.batch();
    this.values32 = words(batch.values, info.valueStride, this.valueOffset);
    const rows: string[] = [];
    const step = Math.ceil(info.valueSize / 8) * 8;
    for (let i = 0; i < batch.count && rows.length < limit; i++) {
      const keyAt = i * keySize;
      const raw = batch.keys.subarray(keyAt, keyAt + keySize);
      let labels: string;
      try {
        const slots = this.keyLabels.length === 0 ? [] : this.decodeKey(batch.keys, keyAt, full);
        labels = slots
          ? `[${slots.map((l) => `${l.name}=${JSON.stringify(String(l.value))}`).join(' ')}]`
          : 'dropped by a decoder';
      } catch (err) {
        labels = `decode error: ${err instanceof Error ? err.message : String(err)}`;
      }
      const valueAt = i * info.valueStride + this.valueOffset;
      const values: number[] = [];
      for (let c = 0; c < info.numCpus; c++) values.push(this.number(batch.values, valueAt + c * step));
      const value = info.perCpu ? `[${values.join(' ')}] (per CPU)` : String(values[0]);
      rows.push(
        `${[...raw].map((b) => b.toString(16).padStart(2, '0')).join(' ')} (labels: ${labels}) -> ${value}`,
      );
    }
    return { rows, total: batch.count };
  }

  /** The slots with the `cpu` label inserted where declared, for CPUs 0..n-1. */
  private perCpuSlots(slots: readonly LabelSlot[], n: number): LabelSlot[][] {
    const out: LabelSlot[][] = [];
    for (let c = 0; c < n; c++) {
      const withCpu = slots.slice();
      withCpu.splice(this.cpuLabelAt, 0, { name: 'cpu', value: String(c), pending: [] });
      out.push(withCpu);
    }
    return out;
  }

  /** decodeKey, with a decode error counted (ERROR) rather than thrown. */
  private tryDecode(keys: Buffer, keyAt: number, stats: ReadStats): LabelSlot[] | undefined | typeof ERROR {
    try {
      return this.decodeKey(keys, keyAt);
    } catch (err) {
      stats.decodeErrors++;
      stats.lastDecodeError = err instanceof Error ? err.message : String(err);
      return ERROR;
    }
  }

  /** The values buffer of the current read as 32-bit words, when every value is aligned to them. */
  private values32: Uint32Array | undefined;

  /** The metric's unsigned little-endian number at `offset` of the values buffer. */
  private number(buf: Buffer, offset: number): number {
    const w = this.values32;
    if (w !== undefined) {
      const at = offset >> 2;
      return this.valueSize === 8
        ? (w[at] as number) + (w[at + 1] as number) * 4294967296
        : (w[at] as number);
    }
    return this.valueSize === 8 ? u64(buf, offset) : buf.readUInt32LE(offset);
  }

  /** Label slots of the key at `keyAt`, or undefined when a decoder dropped the label set. */
  private decodeKey(keys: Buffer, keyAt: number, registry = this.registry): LabelSlot[] | undefined {
    const slots: LabelSlot[] = [];
    let offset = keyAt;
    for (let li = 0; li < this.def.labels.length; li++) {
      const label = this.def.labels[li] as LabelConfig;
      if (li === this.cpuLabelAt) continue;
      const bytes = keys.subarray(offset, offset + label.size);
      offset += label.size + (label.padding ?? 0);
      const slot = resumeChain(
        { name: label.name, value: bytes, pending: this.pendingOf[li] ?? [] },
        registry,
      );
      if (slot === SKIP) return undefined;
      slots.push(slot);
    }
    return slots;
  }
}

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * The buffer as 32-bit words (the host's order, little-endian only), when it is aligned and
 * every record of `stride` bytes starts, and its field at `offset` lies, on a word; else undefined.
 */
function words(buf: Buffer, stride: number, offset: number): Uint32Array | undefined {
  if (!LITTLE_ENDIAN || buf.byteOffset % 4 !== 0 || stride % 4 !== 0 || offset % 4 !== 0) return undefined;
  return new Uint32Array(buf.buffer, buf.byteOffset, buf.length >> 2);
}

/** Whether `n` words from `at` are the same in both arrays (a word index past either's end differs). */
function sameWords(a: Uint32Array, b: Uint32Array, at: number, n: number): boolean {
  if (at + n > b.length) return false;
  for (let i = 0; i < n; i++) if (a[at + i] !== b[at + i]) return false;
  return true;
}

/** Whether the key at `at` is the same in both buffers. */
function sameKey(a: Buffer, b: Buffer, at: number, size: number): boolean {
  let i = 0;
  for (; i + 4 <= size; i += 4) if (a.readInt32LE(at + i) !== b.readInt32LE(at + i)) return false;
  for (; i < size; i++) if (a[at + i] !== b[at + i]) return false;
  return true;
}

/** A key whose decode threw (counted, dropped, not cached). */
const ERROR: unique symbol = Symbol('decode error');

interface KeyEntry {
  /** Undefined: a decoder dropped the label set (SKIP). */
  readonly slots: LabelSlot[] | undefined;
  /** With a `cpu` label: the slots of each CPU, made on first use. */
  perCpu: LabelSlot[][] | undefined;
  /** The read that last found the key. */
  seen: number;
}

/**
 * A u64 counter as a number: exact up to 2^53, the nearest double above (never wrapped).
 * Two 32-bit halves, no BigInt: hi × 2^32 is exact and the one rounded addition gives the
 * same double as Number(readBigUInt64LE()).
 */
function u64(buf: Buffer, offset: number): number {
  return buf.readUInt32LE(offset) + buf.readUInt32LE(offset + 4) * 4294967296;
}

export function toDecoderSpec(d: LabelConfig['decoders'][number]): DecoderSpec {
  return { name: d.name, staticMap: d.static_map, allowUnknown: d.allow_unknown, regexps: d.regexps };
}
