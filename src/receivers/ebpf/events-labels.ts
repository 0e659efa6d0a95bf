import { performance } from 'node:perf_hooks';
import type { LabelSlot } from '../../pipeline/data.ts';
import { SKIP, resumeChain, type DecoderRegistry } from '../../decoders/decoder.ts';
import type { FieldConfig, LabelConfig } from './metrics.ts';
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

  /** FNV-1a over the label bytes (padding left out): equal label bytes decode equally. */
  hash(record: Buffer): number {
    let h = 0x811c9dc5;
    for (const [from, to] of this.ranges) {
      const end = Math.min(to, record.length);
      for (let i = from; i < end; i++) h = Math.imul(h ^ (record[i] as number), 0x01000193);
    }
    return h >>> 0;
  }

  /** The label bytes, copied. */
  rawOf(record: Buffer): Uint8Array {
    const out = new Uint8Array(this.rawSize);
    let at = 0;
    for (const [from, to] of this.ranges) {
      const end = Math.min(to, record.length);
      if (end > from) out.set(record.subarray(from, end), at);
      at += to - from;
    }
    return out;
  }

  matches(record: Buffer, raw: Uint8Array): boolean {
    let at = 0;
    for (const [from, to] of this.ranges) {
      for (let i = from; i < to; i++, at++) if ((record[i] ?? 0) !== raw[at]) return false;
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

export function readField(
  record: Buffer,
  f: { offset: number; size: number; signed?: boolean | undefined },
): number {
  if (f.offset + f.size > record.length)
    throw new RangeError(`field at ${f.offset}+${f.size} is past the record's ${record.length} bytes`);
  switch (f.size) {
    case 1:
      return f.signed ? record.readInt8(f.offset) : record.readUInt8(f.offset);
    case 2:
      return f.signed ? record.readInt16LE(f.offset) : record.readUInt16LE(f.offset);
    case 4:
      return f.signed ? record.readInt32LE(f.offset) : record.readUInt32LE(f.offset);
    default:
      return Number(f.signed ? record.readBigInt64LE(f.offset) : record.readBigUInt64LE(f.offset));
  }
}

export function readU64(record: Buffer, f: FieldConfig): bigint {
  return f.size === 8 ? record.readBigUInt64LE(f.offset) : BigInt(readField(record, f));
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
