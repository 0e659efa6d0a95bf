import { performance } from 'node:perf_hooks';
import type { LabelSlot } from '../../pipeline/data.ts';
import { SKIP, resumeChain, type DecoderRegistry } from '../../decoders/decoder.ts';
import type { FieldConfig } from './file-schema.ts';
import type { LabelConfig } from './metrics.ts';
import { toDecoderSpec } from './reader.ts';

// Decoding records (see events.ts for the flow): label slots and fields of one record.

export class RecordLabels {
  private readonly labels: readonly LabelConfig[];
  private readonly pending: readonly (readonly ReturnType<typeof toDecoderSpec>[])[];
  readonly size: number;
  private readonly ranges: readonly [number, number][];
  private readonly rawSize: number;

  constructor(labels: readonly LabelConfig[]) {
    this.labels = labels;
    this.pending = labels.map((l) => l.decoders.map(toDecoderSpec));
    this.size = labels.reduce((n, l) => n + l.size + (l.padding ?? 0), 0);
    // Byte ranges of the labels, adjacent ones merged.
    const ranges: [number, number][] = [];
    let at = 0;
    for (const l of labels) {
      const last = ranges[ranges.length - 1];
      if (last && last[1] === at) last[1] = at + l.size;
      else ranges.push([at, at + l.size]);
      at += l.size + (l.padding ?? 0);
    }
    this.ranges = ranges.length > 0 ? ranges : [[0, 0]];
    this.rawSize = this.ranges.reduce((n, [from, to]) => n + to - from, 0);
  }

  /**
   * FNV-1a over the label bytes (padding left out) of the record of `len` bytes at `at`:
   * equal label bytes decode equally. Bytes past the record's end count as 0.
   */
  hash(bytes: Uint8Array, at: number, len: number): number {
    let h = 0x811c9dc5;
    for (const [from, to] of this.ranges) {
      const end = Math.min(to, len);
      for (let i = from; i < end; i++) h = Math.imul(h ^ (bytes[at + i] as number), 0x01000193);
    }
    return h >>> 0;
  }

  /** The label bytes, copied (0 past the record's end). */
  rawOf(bytes: Uint8Array, at: number, len: number): Uint8Array {
    const out = new Uint8Array(this.rawSize);
    let o = 0;
    for (const [from, to] of this.ranges) {
      const end = Math.min(to, len);
      if (end > from) out.set(bytes.subarray(at + from, at + end), o);
      o += to - from;
    }
    return out;
  }

  /** Whether the record's label bytes are `raw` (as rawOf made it). */
  matches(bytes: Uint8Array, at: number, len: number, raw: Uint8Array): boolean {
    let o = 0;
    for (const [from, to] of this.ranges) {
      for (let i = from; i < to; i++, o++) if ((i < len ? bytes[at + i] : 0) !== raw[o]) return false;
    }
    return true;
  }

  /** Undefined when a decoder dropped the set (regexp no-match). Throws DecodeError or RangeError. */
  decode(record: Buffer, registry: DecoderRegistry): LabelSlot[] | undefined {
    if (record.length < this.size)
      throw new RangeError(`record is ${record.length} bytes, its labels need ${this.size}`);
    const slots: LabelSlot[] = [];
    let offset = 0;
    for (let i = 0; i < this.labels.length; i++) {
      const label = this.labels[i] as LabelConfig;
      const bytes = record.subarray(offset, offset + label.size);
      offset += label.size + (label.padding ?? 0);
      const slot = resumeChain({ name: label.name, value: bytes, pending: this.pending[i] ?? [] }, registry);
      if (slot === SKIP) return undefined;
      // Undecoded bytes are kept past this call: copy them off the reused staging buffer.
      slots.push(typeof slot.value === 'string' ? slot : { ...slot, value: Buffer.from(slot.value) });
    }
    return slots;
  }
}

/** A DataView over a Buffer's bytes. */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * A numeric field of the record of `len` bytes at `at` of `view`, little-endian; 8-byte
 * fields as the nearest double (one rounding, as Number(bigint)).
 */
export function readField(
  view: DataView,
  at: number,
  len: number,
  f: { offset: number; size: number; signed?: boolean | undefined },
): number {
  if (f.offset + f.size > len)
    throw new RangeError(`field at ${f.offset}+${f.size} is past the record's ${len} bytes`);
  const o = at + f.offset;
  switch (f.size) {
    case 1:
      return f.signed ? view.getInt8(o) : view.getUint8(o);
    case 2:
      return f.signed ? view.getInt16(o, true) : view.getUint16(o, true);
    case 4:
      return f.signed ? view.getInt32(o, true) : view.getUint32(o, true);
    default: {
      // hi × 2^32 is exact, so the sum is rounded once: the same double as Number(bigint).
      const hi = f.signed ? view.getInt32(o + 4, true) : view.getUint32(o + 4, true);
      return hi * 4294967296 + view.getUint32(o, true);
    }
  }
}

/** readField over a whole record. */
export function readRecordField(
  record: Buffer,
  f: { offset: number; size: number; signed?: boolean | undefined },
): number {
  return readField(viewOf(record), 0, record.length, f);
}

export function readU64(record: Buffer, f: FieldConfig): bigint {
  return f.size === 8 ? record.readBigUInt64LE(f.offset) : BigInt(readRecordField(record, f));
}

export function slotText(s: LabelSlot): string {
  return typeof s.value === 'string' ? s.value : Buffer.from(s.value).toString('hex');
}

/** CLOCK_MONOTONIC (bpf_ktime_get_ns, uv_hrtime) → Unix-epoch ns: the offset measured at start. */
export function monotonicToWallOffsetNs(): bigint {
  const mono = process.hrtime.bigint();
  const wall = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  return wall - mono;
}

/** What a record goes to: one per definition reading its map. */
export interface DecodeStats {
  errors: number;
  last?: string;
}

export interface Sink {
  onRecord(record: Buffer, stats: DecodeStats): void;
}

/**
 * A sink that takes records in place, inside a batch (counters and histograms): the record of
 * `len` bytes at `at` of `bytes` / `view`, valid only during the call.
 */
export interface InlineSink {
  onRecordAt(bytes: Buffer, view: DataView, at: number, len: number, stats: DecodeStats): void;
}
