import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Subject } from 'rxjs';
import type { BpfObject, MapInfo, PerfBuffer, RingBuffer } from '../../native/index.ts';
import type {
  HistogramSpec,
  LabelSlot,
  LogBatch,
  LogRecordData,
  RawFamily,
  RawPoint,
  SpanBatch,
  SpanRecord,
} from '../../pipeline/data.ts';
import type { SelfFamily, SelfTelemetry } from '../../pipeline/telemetry.ts';
import { SKIP, resumeChain, type Decoder, type DecoderRegistry } from '../../decoders/decoder.ts';
import { cgroupDecoder } from '../../decoders/cgroup.ts';
import { CgroupTable, findCgroup2Mount } from '../../kernel/cgroup-table.ts';
import { parseDuration } from '../../config/types.ts';
import type { EbpfReceiverConfig } from './config.ts';
import type {
  FieldConfig,
  LabelConfig,
  LogConfig,
  MetricsConfig,
  SpanConfig,
  ValueConfig,
} from './metrics.ts';
import { toDecoderSpec } from './reader.ts';

/**
 * Event streams of one loaded object: ring buffers and perf event arrays read
 * as records, decoded with the label model of map keys, and turned into
 *   - counters and histograms (ebpf_exporter's `perf_event_array: true`
 *     counters, our `events:` counters and histograms), emitted with the
 *     receiver's MetricBatch on every read;
 *   - spans (ebpf_exporter's `tracing.spans`) on `spans$`;
 *   - log records (our `logs:`) on `logs$`.
 *
 * Flow and bounds: the native drain (a timer every `drain_interval`, plus
 * epoll wake-ups) hands over each record. Counters and histograms take it at
 * once (a map lookup by its raw label bytes; each distinct key is decoded
 * once), so they never drop. For spans and log records it is copied into a
 * per-map bounded queue; they are built in turns of at most `batch_size`
 * records, yielding to the event loop between turns (setImmediate). A full queue drops records
 * (`overflow`: the newest or the oldest) and counts them. Memory is bounded by
 * queue_size × record size per map, whatever the event rate; a slow
 * subscriber slows the turns, fills the queue and causes counted drops,
 * never unbounded growth. Kernel-side losses are counted too: perf lost
 * samples, and ring reserve failures from the `<ring>_drops` map that
 * bpf/include/events.bpf.h declares beside each EVENT_RING.
 */

export type EventsConfig = EbpfReceiverConfig['events'];

export interface EventDefinitions {
  readonly metrics: MetricsConfig;
  readonly spans: readonly SpanConfig[];
  readonly logs: readonly LogConfig[];
}

/** Maps the definitions read as event streams, and the problems binding them to the object. */
export function eventMapsOf(defs: EventDefinitions, hook?: string): string[] {
  const maps = new Set<string>();
  const inSet = (hooks: readonly string[] | undefined): boolean =>
    hook === undefined || hooks === undefined || hooks.includes(hook);
  for (const c of defs.metrics.counters ?? []) {
    if (!inSet(c.hooks)) continue;
    if (c.perf_event_array) maps.add(c.name);
    else if (c.events !== undefined) maps.add(c.events);
  }
  for (const h of defs.metrics.histograms ?? [])
    if (h.events !== undefined && inSet(h.hooks)) maps.add(h.events);
  for (const s of defs.spans) maps.add(s.ringbuf);
  for (const l of defs.logs) maps.add(l.map);
  return [...maps];
}

const RESERVED = new Set([
  'trace_id',
  'parent_span_id',
  'span_id',
  'span_monotonic_timestamp_ns',
  'span_duration_ns',
  'span_name',
]);

/** One line per definition that does not fit the object's maps. */
export function checkEventLayout(
  defs: EventDefinitions,
  maps: ReadonlyMap<string, MapInfo>,
  hook?: string,
): string[] {
  const problems: string[] = [];
  const needType = (what: string, map: string, types: readonly string[]): void => {
    const info = maps.get(map);
    if (!info) problems.push(`${what}: the object has no map named "${map}"`);
    else if (!types.includes(info.type))
      problems.push(`${what}: map ${map} is a ${info.type}, expected ${types.join(' or ')}`);
  };
  const inSet = (hooks: readonly string[] | undefined): boolean =>
    hook === undefined || hooks === undefined || hooks.includes(hook);
  for (const c of defs.metrics.counters ?? []) {
    if (!inSet(c.hooks)) continue;
    if (c.perf_event_array) needType(`metric ${c.name}`, c.name, ['perf_event_array']);
    else if (c.events !== undefined) needType(`metric ${c.name}`, c.events, ['ringbuf', 'perf_event_array']);
  }
  for (const h of defs.metrics.histograms ?? [])
    if (h.events !== undefined && inSet(h.hooks))
      needType(`metric ${h.name}`, h.events, ['ringbuf', 'perf_event_array']);
  for (const s of defs.spans) {
    needType(`span ${s.name ?? s.ringbuf}`, s.ringbuf, ['ringbuf']);
    const names = new Set((s.labels ?? []).map((l) => l.name));
    for (const r of ['trace_id', 'span_id', 'span_monotonic_timestamp_ns', 'span_duration_ns'])
      if (!names.has(r)) problems.push(`span ${s.name ?? s.ringbuf}: needs a ${r} label`);
  }
  for (const l of defs.logs) {
    needType(`log ${l.name}`, l.map, ['ringbuf', 'perf_event_array']);
    if (l.time_field !== undefined && !(l.fields ?? []).some((f) => f.name === l.time_field))
      problems.push(`log ${l.name}: time_field ${l.time_field} is not one of its fields`);
  }
  return problems;
}

// ---------------------------------------------------------------------------
// Decoding records.

/** Record → label slots: cut by size/padding from offset 0, decoders run as far as `registry` has them. */
class RecordLabels {
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

function readField(
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

function readU64(record: Buffer, f: FieldConfig): bigint {
  return f.size === 8 ? record.readBigUInt64LE(f.offset) : BigInt(readField(record, f));
}

function slotText(s: LabelSlot): string {
  return typeof s.value === 'string' ? s.value : Buffer.from(s.value).toString('hex');
}

/** CLOCK_MONOTONIC (bpf_ktime_get_ns, uv_hrtime) → Unix-epoch ns: the offset measured at start. */
export function monotonicToWallOffsetNs(): bigint {
  const mono = process.hrtime.bigint();
  const wall = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  return wall - mono;
}

// ---------------------------------------------------------------------------
// Sinks: what one definition does with each record of its map.

interface DecodeStats {
  errors: number;
  last?: string;
}

interface Sink {
  onRecord(record: Buffer, stats: DecodeStats): void;
}

/**
 * Series by the raw bytes of their labels, found per record without building
 * a string: a 32-bit hash, then a byte compare. Each distinct key is decoded
 * once; `labels` is then the slots, undefined (a regexp dropped the set) or a
 * string (its decode error, counted per record).
 */
class KeyedSeries<E extends { raw: Uint8Array; labels: LabelSlot[] | undefined | string }> {
  private readonly buckets = new Map<number, E[]>();
  private readonly labels: RecordLabels;

  constructor(labels: RecordLabels) {
    this.labels = labels;
  }

  find(record: Buffer, make: (raw: Uint8Array) => E): E {
    const h = this.labels.hash(record);
    let bucket = this.buckets.get(h);
    if (bucket) {
      for (let i = 0; i < bucket.length; i++) {
        const e = bucket[i] as E;
        if (this.labels.matches(record, e.raw)) return e;
      }
    } else {
      bucket = [];
      this.buckets.set(h, bucket);
    }
    const e = make(this.labels.rawOf(record));
    bucket.push(e);
    return e;
  }

  *values(): IterableIterator<E> {
    for (const bucket of this.buckets.values()) yield* bucket;
  }

  clear(): void {
    this.buckets.clear();
  }
}

function decodeOnce(
  labels: RecordLabels,
  record: Buffer,
  registry: DecoderRegistry,
  what: string,
): LabelSlot[] | undefined | string {
  try {
    return labels.decode(record, registry);
  } catch (err) {
    return `${what}: ${(err as Error).message}`;
  }
}

/** +1 (or + value) per record by decoded labels; reset every flush_interval (ebpf_exporter). */
class EventCounter implements Sink {
  readonly name: string;
  readonly help: string;
  readonly dropIn: boolean;
  private readonly labels: RecordLabels;
  private readonly value: ValueConfig | undefined;
  private readonly flushMs: number;
  private readonly registry: DecoderRegistry;
  /**
   * By the raw bytes of the label region: each distinct key is decoded once
   * (undefined: dropped by a regexp; a string: its decode error, counted per record).
   */
  private readonly series: KeyedSeries<{
    raw: Uint8Array;
    labels: LabelSlot[] | undefined | string;
    value: number;
  }>;
  private startTimeMs = Date.now();

  constructor(
    def: { name: string; help: string; labels?: LabelConfig[] | undefined; value?: ValueConfig | undefined },
    flushInterval: string | undefined,
    dropIn: boolean,
    registry: DecoderRegistry,
  ) {
    this.name = def.name;
    this.help = def.help;
    this.dropIn = dropIn;
    this.labels = new RecordLabels(def.labels ?? []);
    this.series = new KeyedSeries(this.labels);
    this.value = def.value;
    const ms = parseDuration(flushInterval ?? '1h');
    this.flushMs = typeof ms === 'number' && ms > 0 ? ms : 3_600_000;
    this.registry = registry;
  }

  onRecord(record: Buffer, stats: DecodeStats): void {
    let delta = 1;
    const s = this.series.find(record, (raw) => ({
      raw,
      labels: decodeOnce(this.labels, record, this.registry, `metric ${this.name}`),
      value: 0,
    }));
    if (typeof s.labels === 'string') {
      stats.errors++;
      stats.last = s.labels;
      return;
    }
    if (!s.labels) return;
    try {
      if (this.value) delta = readField(record, this.value);
    } catch (err) {
      stats.errors++;
      stats.last = `metric ${this.name}: ${(err as Error).message}`;
      return;
    }
    s.value += delta;
  }

  /** Reset (ebpf_exporter's flush_interval) when due; called on every read. */
  tick(now: number): void {
    this.maybeFlush(now);
  }

  private maybeFlush(now: number): void {
    if (now - this.startTimeMs < this.flushMs) return;
    this.series.clear();
    this.startTimeMs = now;
  }

  family(now: number): RawFamily {
    this.maybeFlush(now);
    const points: RawPoint[] = [];
    for (const s of this.series.values())
      if (typeof s.labels === 'object' && s.value !== 0) points.push({ labels: s.labels, value: s.value });
    return { name: this.name, help: this.help, kind: 'counter', startTimeMs: this.startTimeMs, points };
  }
}

/** Buckets a numeric field by decoded labels, in ebpf_exporter's bucket layouts (raw value units). */
class EventHistogram implements Sink {
  readonly name: string;
  private readonly help: string;
  private readonly labels: RecordLabels;
  private readonly value: ValueConfig;
  private readonly spec: HistogramSpec;
  private readonly registry: DecoderRegistry;
  /** By the raw bytes of the label region, as EventCounter. */
  private readonly series: KeyedSeries<{
    raw: Uint8Array;
    labels: LabelSlot[] | undefined | string;
    counts: Map<number, number>;
    sum: number;
  }>;
  private readonly startTimeMs = Date.now();

  constructor(
    def: { name: string; help: string; labels?: LabelConfig[] | undefined; value: ValueConfig },
    spec: HistogramSpec,
    registry: DecoderRegistry,
  ) {
    this.name = def.name;
    this.help = def.help;
    this.labels = new RecordLabels(def.labels ?? []);
    this.series = new KeyedSeries(this.labels);
    this.value = def.value;
    this.spec = spec;
    this.registry = registry;
  }

  onRecord(record: Buffer, stats: DecodeStats): void {
    const s = this.series.find(record, (raw) => ({
      raw,
      labels: decodeOnce(this.labels, record, this.registry, `metric ${this.name}`),
      counts: new Map<number, number>(),
      sum: 0,
    }));
    if (typeof s.labels === 'string') {
      stats.errors++;
      stats.last = s.labels;
      return;
    }
    if (!s.labels) return;
    let v: number;
    try {
      v = readField(record, this.value);
    } catch (err) {
      stats.errors++;
      stats.last = `metric ${this.name}: ${(err as Error).message}`;
      return;
    }
    const b = bucketOf(this.spec, v);
    s.counts.set(b, (s.counts.get(b) ?? 0) + 1);
    s.sum += v;
  }

  family(): RawFamily {
    const sumAt =
      this.spec.bucketType === 'fixed'
        ? (this.spec.bucketKeys[this.spec.bucketKeys.length - 1] ?? 0) + 1
        : this.spec.bucketMax + 1;
    const points: RawPoint[] = [];
    for (const s of this.series.values()) {
      if (typeof s.labels !== 'object' || s.counts.size === 0) continue;
      for (const [b, n] of s.counts)
        points.push({ labels: [...s.labels, { name: 'bucket', value: String(b), pending: [] }], value: n });
      points.push({
        labels: [...s.labels, { name: 'bucket', value: String(sumAt), pending: [] }],
        value: s.sum,
      });
    }
    return {
      name: this.name,
      help: this.help,
      kind: 'histogram',
      histogram: this.spec,
      startTimeMs: this.startTimeMs,
      points,
    };
  }
}

/**
 * The bucket key of a raw value `v`: the smallest key whose bound (before the
 * multiplier) is ≥ v, clamped into [min, max] as the kernel helpers clamp.
 */
export function bucketOf(spec: HistogramSpec, v: number): number {
  const clamp = (k: number): number => Math.min(spec.bucketMax, Math.max(spec.bucketMin, k));
  switch (spec.bucketType) {
    case 'exp2':
      return clamp(v <= 1 ? 0 : Math.ceil(Math.log2(v) - 1e-12));
    case 'exp2zero':
      return clamp(v <= 0 ? 0 : v <= 1 ? 1 : Math.ceil(Math.log2(v) - 1e-12) + 1);
    case 'linear':
      return clamp(Math.ceil(v));
    case 'fixed': {
      for (const k of spec.bucketKeys) if (v <= k) return k;
      return spec.bucketKeys[spec.bucketKeys.length - 1] ?? 0;
    }
  }
}

class SpanSink implements Sink {
  private readonly def: SpanConfig;
  private readonly labels: RecordLabels;
  private readonly registry: DecoderRegistry;
  private readonly offsetNs: bigint;
  private readonly out: SpanRecord[];

  constructor(def: SpanConfig, registry: DecoderRegistry, offsetNs: bigint, out: SpanRecord[]) {
    this.def = def;
    this.labels = new RecordLabels(def.labels ?? []);
    this.registry = registry;
    this.offsetNs = offsetNs;
    this.out = out;
  }

  onRecord(record: Buffer, stats: DecodeStats): void {
    try {
      const slots = this.labels.decode(record, this.registry);
      if (!slots) return;
      this.out.push(this.toSpan(slots));
    } catch (err) {
      stats.errors++;
      stats.last = `span ${this.def.name ?? this.def.ringbuf}: ${(err as Error).message}`;
    }
  }

  private toSpan(slots: readonly LabelSlot[]): SpanRecord {
    const attributes: Record<string, string> = {};
    const reserved: Record<string, string> = {};
    for (const s of slots) {
      if (s.pending.length > 0)
        throw new Error(`label ${s.name}: decoder ${s.pending[0]?.name} is not available`);
      if (RESERVED.has(s.name)) reserved[s.name] = slotText(s);
      else attributes[s.name] = slotText(s);
    }
    const traceId = hexId(reserved['trace_id'], 32, 'trace_id');
    if (/^0+$/.test(traceId)) throw new Error('trace_id is zero');
    const parent =
      reserved['parent_span_id'] === undefined
        ? undefined
        : hexId(reserved['parent_span_id'], 16, 'parent_span_id');
    let spanId = hexId(reserved['span_id'], 16, 'span_id');
    if (/^0+$/.test(spanId)) spanId = randomBytes(8).toString('hex');
    const start = uintOf(reserved['span_monotonic_timestamp_ns'], 'span_monotonic_timestamp_ns');
    const duration = uintOf(reserved['span_duration_ns'], 'span_duration_ns');
    const name = reserved['span_name'] || this.def.name || this.def.ringbuf;
    const startTimeUnixNano = start + this.offsetNs;
    return {
      traceId,
      spanId,
      ...(parent !== undefined && !/^0+$/.test(parent) ? { parentSpanId: parent } : {}),
      name,
      startTimeUnixNano,
      endTimeUnixNano: startTimeUnixNano + duration,
      attributes,
    };
  }
}

function hexId(value: string | undefined, digits: number, what: string): string {
  if (value === undefined) throw new Error(`no ${what} label`);
  const v = value.toLowerCase();
  if (!/^[0-9a-f]+$/.test(v) || v.length !== digits)
    throw new Error(`${what} must be ${digits} hex digits (decode it with hex), got "${value}"`);
  return v;
}

function uintOf(value: string | undefined, what: string): bigint {
  if (value === undefined || !/^\d+$/.test(value))
    throw new Error(`${what} must decode to an unsigned integer (uint), got "${value ?? ''}"`);
  return BigInt(value);
}

const SEVERITY: Record<string, number> = { trace: 1, debug: 5, info: 9, warn: 13, error: 17, fatal: 21 };

class LogSink implements Sink {
  private readonly def: LogConfig;
  private readonly labels: RecordLabels;
  private readonly registry: DecoderRegistry;
  private readonly offsetNs: bigint;
  private readonly out: LogRecordData[];
  private readonly timeField: FieldConfig | undefined;

  constructor(def: LogConfig, registry: DecoderRegistry, offsetNs: bigint, out: LogRecordData[]) {
    this.def = def;
    this.labels = new RecordLabels(def.labels ?? []);
    this.registry = registry;
    this.offsetNs = offsetNs;
    this.out = out;
    this.timeField = (def.fields ?? []).find((f) => f.name === def.time_field);
  }

  onRecord(record: Buffer, stats: DecodeStats): void {
    try {
      const slots = this.labels.decode(record, this.registry);
      if (!slots) return;
      const attributes: Record<string, string | number> = {};
      for (const s of slots) {
        if (s.pending.length > 0)
          throw new Error(`label ${s.name}: decoder ${s.pending[0]?.name} is not available`);
        attributes[s.name] = slotText(s);
      }
      for (const f of this.def.fields ?? []) {
        if (f === this.timeField) continue;
        attributes[f.name] = readField(record, f);
      }
      const observed = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
      const time = this.timeField ? readU64(record, this.timeField) + this.offsetNs : observed;
      const severity = this.def.severity ?? 'info';
      this.out.push({
        timeUnixNano: time,
        observedTimeUnixNano: observed,
        severityNumber: SEVERITY[severity],
        severityText: severity.toUpperCase(),
        eventName: this.def.name,
        body: render(this.def.body ?? this.def.name, attributes),
        attributes,
      });
    } catch (err) {
      stats.errors++;
      stats.last = `log ${this.def.name}: ${(err as Error).message}`;
    }
  }
}

function render(template: string, values: Readonly<Record<string, string | number>>): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_.]*)\}/g, (whole, name: string) =>
    name in values ? String(values[name]) : whole,
  );
}

// ---------------------------------------------------------------------------
// Bounded queue.

/** Bytes of one queue chunk: records are copied into chunks, not allocated one by one. */
const CHUNK_BYTES = 64 * 1024;
const CHUNK_RECORDS = 2048;

interface Chunk {
  readonly buf: Buffer;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  used: number;
  count: number;
  read: number;
}

/**
 * A FIFO of record copies holding at most `capacity` records; a full queue
 * drops the newest or the oldest and counts them. Records are memcpy'd into
 * 64 KiB chunks (no allocation per record); a chunk is released once read.
 * shift() returns a view into a chunk: use it before the next push.
 */
export class RecordQueue {
  private readonly chunks: Chunk[] = [];
  private count = 0;
  dropped = 0;
  readonly capacity: number;
  private readonly dropOldest: boolean;

  constructor(capacity: number, dropOldest: boolean) {
    this.capacity = capacity;
    this.dropOldest = dropOldest;
  }

  get length(): number {
    return this.count;
  }

  /** Copies `record` in (or drops). */
  push(record: Buffer): void {
    if (this.count >= this.capacity) {
      this.dropped++;
      if (!this.dropOldest) return;
      this.shift();
    }
    let tail = this.chunks[this.chunks.length - 1];
    const len = record.length;
    if (!tail || tail.count === CHUNK_RECORDS || tail.used + len > tail.buf.length) {
      tail = {
        buf: Buffer.allocUnsafe(Math.max(CHUNK_BYTES, len)),
        offsets: new Uint32Array(CHUNK_RECORDS),
        lengths: new Uint32Array(CHUNK_RECORDS),
        used: 0,
        count: 0,
        read: 0,
      };
      this.chunks.push(tail);
    }
    record.copy(tail.buf, tail.used);
    tail.offsets[tail.count] = tail.used;
    tail.lengths[tail.count] = len;
    tail.count++;
    tail.used += len;
    this.count++;
  }

  shift(): Buffer | undefined {
    if (this.count === 0) return undefined;
    let head = this.chunks[0] as Chunk;
    while (head.read === head.count) {
      this.chunks.shift();
      head = this.chunks[0] as Chunk;
    }
    const i = head.read++;
    this.count--;
    const at = head.offsets[i] as number;
    // A fully read chunk that is not the tail is released now (the view keeps its memory alive).
    if (head.read === head.count && this.chunks.length > 1) this.chunks.shift();
    return head.buf.subarray(at, at + (head.lengths[i] as number));
  }

  clear(): void {
    this.chunks.length = 0;
    this.count = 0;
  }
}

// ---------------------------------------------------------------------------
// The streams of one object.

interface Stream {
  readonly map: string;
  readonly kind: 'ringbuf' | 'perf_event_array';
  /** Counters and histograms: O(1) per record (decoded once per distinct key), run at drain time. */
  readonly inline: Sink[];
  /** Spans and log records: built per record and handed to subscribers, through the bounded queue. */
  readonly sinks: Sink[];
  readonly queue: RecordQueue;
  source?: RingBuffer | PerfBuffer;
  received: number;
  /** Perf: counters with perf_event_array: true reading this map (dropped_perf_event_map_events_<name>). */
  readonly dropInCounters: string[];
}

export interface EventStreamsOptions {
  readonly id: string;
  readonly config: string;
  readonly events: EventsConfig;
  /** Decoders for metric labels (processor-supplied ones stay pending). */
  readonly metricRegistry: DecoderRegistry;
  /**
   * Decoders for span and log labels: every one (no processor runs on them in
   * traces/logs pipelines). Their `cgroup` decoder is replaced by one over an
   * inotify-kept cgroup2 table this object owns while started.
   */
  readonly eventRegistry: DecoderRegistry;
  readonly onDecodeErrors: (count: number, last: string | undefined) => void;
  readonly onError: (message: string, err: unknown) => void;
}

export class EventStreams {
  private readonly opts: EventStreamsOptions;
  private readonly streams = new Map<string, Stream>();
  private readonly counters: EventCounter[] = [];
  private readonly histograms: EventHistogram[] = [];
  private readonly pendingSpans: SpanRecord[] = [];
  private readonly pendingLogs: LogRecordData[] = [];
  private readonly spanSubject = new Subject<SpanBatch>();
  private readonly logSubject = new Subject<LogBatch>();
  readonly spans$ = this.spanSubject.asObservable();
  readonly logs$ = this.logSubject.asObservable();
  private scheduled: ReturnType<typeof setImmediate> | undefined;
  private stopped = false;
  /** Decode errors of the inline (metric) sinks since the last turn. */
  private inlineStats: DecodeStats = { errors: 0 };
  /** cgroup2 id → path for span and log labels (only when one uses the cgroup decoder). */
  private cgroupTable: CgroupTable | undefined;
  private object: BpfObject | undefined;
  private self:
    | {
        received: SelfFamily;
        kernelDropped: SelfFamily;
        dropped: SelfFamily;
        queued: SelfFamily;
        dropIn: Map<string, SelfFamily>;
      }
    | undefined;

  constructor(defs: EventDefinitions, hook: string | undefined, opts: EventStreamsOptions) {
    this.opts = opts;
    const offset = monotonicToWallOffsetNs();
    const inSet = (hooks: readonly string[] | undefined): boolean =>
      hook === undefined || hooks === undefined || hooks.includes(hook);
    const stream = (map: string): Stream => {
      let s = this.streams.get(map);
      if (!s) {
        s = {
          map,
          kind: 'ringbuf',
          inline: [],
          sinks: [],
          queue: new RecordQueue(opts.events.queue_size, opts.events.overflow === 'drop_oldest'),
          received: 0,
          dropInCounters: [],
        };
        this.streams.set(map, s);
      }
      return s;
    };
    for (const c of defs.metrics.counters ?? []) {
      if (!inSet(c.hooks)) continue;
      const map = c.perf_event_array ? c.name : c.events;
      if (map === undefined) continue;
      const counter = new EventCounter(c, c.flush_interval, c.perf_event_array === true, opts.metricRegistry);
      this.counters.push(counter);
      const s = stream(map);
      s.inline.push(counter);
      if (c.perf_event_array) s.dropInCounters.push(c.name);
    }
    for (const h of defs.metrics.histograms ?? []) {
      if (h.events === undefined || h.value === undefined || !inSet(h.hooks)) continue;
      const spec: HistogramSpec = {
        bucketType: h.bucket_type,
        bucketMin: h.bucket_min ?? 0,
        bucketMax: h.bucket_max ?? 0,
        bucketMultiplier: h.bucket_multiplier ?? 1,
        bucketKeys: h.bucket_keys ?? [],
      };
      const hist = new EventHistogram({ ...h, value: h.value }, spec, opts.metricRegistry);
      this.histograms.push(hist);
      stream(h.events).inline.push(hist);
    }
    const eventLabels = [...defs.spans, ...defs.logs].flatMap((d) => d.labels ?? []);
    let eventRegistry = opts.eventRegistry;
    if (eventLabels.some((l) => l.decoders.some((d) => d.name === 'cgroup'))) {
      const root = findCgroup2Mount();
      if (root !== undefined) {
        this.cgroupTable = new CgroupTable({
          root,
          deletedGraceMs: 300_000,
          rescanIntervalMs: 1_000,
          maxWatches: 16_384,
          maxDeleted: 65_536,
        });
        const table = this.cgroupTable;
        const withTable = new Map<string, Decoder>(opts.eventRegistry);
        withTable.set(
          'cgroup',
          cgroupDecoder(() => table),
        );
        eventRegistry = withTable;
      }
    }
    for (const sp of defs.spans)
      stream(sp.ringbuf).sinks.push(new SpanSink(sp, eventRegistry, offset, this.pendingSpans));
    for (const l of defs.logs)
      stream(l.map).sinks.push(new LogSink(l, eventRegistry, offset, this.pendingLogs));
  }

  get empty(): boolean {
    return this.streams.size === 0;
  }

  get hasSpans(): boolean {
    return [...this.streams.values()].some((s) => s.sinks.some((k) => k instanceof SpanSink));
  }

  get hasLogs(): boolean {
    return [...this.streams.values()].some((s) => s.sinks.some((k) => k instanceof LogSink));
  }

  /** Open every stream's ring or perf buffer. Throws (CollectorError) when one cannot be opened. */
  start(object: BpfObject, telemetry: SelfTelemetry): void {
    this.object = object;
    try {
      this.cgroupTable?.start();
    } catch (err) {
      this.opts.onError('cgroup table for event labels unavailable: cgroup ids stay unknown', err);
    }
    this.self = {
      received: telemetry.counter(
        'events_received_total',
        'Event records read from the kernel, by config and map',
      ),
      kernelDropped: telemetry.counter(
        'events_kernel_dropped_total',
        'Event records the kernel could not deliver: ring reserve failures (<ring>_drops) and perf lost samples',
      ),
      dropped: telemetry.counter(
        'events_dropped_total',
        'Event records dropped in the agent because the decode queue was full (a slow consumer)',
      ),
      queued: telemetry.gauge(
        'events_queue_length',
        'Event records waiting to be decoded, by config and map',
      ),
      dropIn: new Map(),
    };
    const maps = new Map(object.maps().map((m) => [m.name, m]));
    const { config } = this.opts;
    for (const s of this.streams.values()) {
      const labels = { config, map: s.map };
      this.self.received.add(labels, 0);
      this.self.dropped.add({ ...labels, reason: 'queue_full' }, 0);
      const info = maps.get(s.map);
      const inline = s.inline;
      const queued = s.sinks.length > 0;
      const onRecord = (record: Buffer): void => {
        s.received++;
        for (let i = 0; i < inline.length; i++) (inline[i] as Sink).onRecord(record, this.inlineStats);
        if (this.inlineStats.errors > 0) this.schedule(); // reported by the next turn
        if (!queued) return;
        s.queue.push(record);
        this.schedule();
      };
      if (info?.type === 'perf_event_array') {
        (s as { kind: Stream['kind'] }).kind = 'perf_event_array';
        this.self.kernelDropped.add({ ...labels, reason: 'lost' }, 0);
        for (const name of s.dropInCounters) {
          // ebpf_exporter's own name, without the namespace prefix.
          const f = telemetry.counter(`dropped_perf_event_map_events_${name}`, 'Dropped perf map events', {
            unprefixed: true,
          });
          f.add({}, 0);
          this.self.dropIn.set(name, f);
        }
        s.source = object.perfBuffer(s.map, onRecord, {
          pageCount: this.opts.events.perf_buffer_pages,
          drainIntervalMs: this.opts.events.drain_interval,
        });
      } else {
        if (maps.has(`${s.map}_drops`)) this.self.kernelDropped.add({ ...labels, reason: 'reserve' }, 0);
        s.source = object.ringBuffer(s.map, onRecord, { drainIntervalMs: this.opts.events.drain_interval });
      }
    }
  }

  private schedule(): void {
    if (this.scheduled !== undefined || this.stopped) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      this.turn();
    });
  }

  /** Decode at most batch_size records (round-robin over maps), emit spans and logs, yield. */
  private turn(): void {
    if (this.stopped) return;
    const stats: DecodeStats = this.inlineStats;
    this.inlineStats = { errors: 0 };
    let budget = this.opts.events.batch_size;
    let more = true;
    while (budget > 0 && more) {
      more = false;
      for (const s of this.streams.values()) {
        const share = Math.max(1, Math.floor(budget / this.streams.size));
        for (let i = 0; i < share && budget > 0; i++) {
          const record = s.queue.shift();
          if (!record) break;
          budget--;
          for (const sink of s.sinks) sink.onRecord(record, stats);
        }
        if (s.queue.length > 0) more = true;
      }
    }
    if (stats.errors > 0) this.opts.onDecodeErrors(stats.errors, stats.last);
    this.emit();
    if ([...this.streams.values()].some((s) => s.queue.length > 0)) this.schedule();
  }

  private emit(): void {
    const { id, config } = this.opts;
    if (this.pendingSpans.length > 0) {
      const spans = this.pendingSpans.splice(0);
      for (const sp of spans) (sp.attributes as Record<string, string>)['ebpf_exporter.config'] = config;
      try {
        this.spanSubject.next({ source: id, config, spans });
      } catch (err) {
        this.opts.onError('traces pipeline failed on a batch', err);
      }
    }
    if (this.pendingLogs.length > 0) {
      const records = this.pendingLogs.splice(0);
      try {
        this.logSubject.next({ source: id, config, records });
      } catch (err) {
        this.opts.onError('logs pipeline failed on a batch', err);
      }
    }
  }

  /** Counters and histograms from events, for the receiver's MetricBatch; refreshes the self-metrics. */
  families(): RawFamily[] {
    this.refreshStats();
    const now = Date.now();
    return [...this.counters.map((c) => c.family(now)), ...this.histograms.map((h) => h.family())];
  }

  /** Drain every buffer now and decode everything queued (tests, shutdown). */
  flush(): void {
    for (const s of this.streams.values()) s.source?.consume();
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.turn();
    while ([...this.streams.values()].some((s) => s.queue.length > 0) && !this.stopped) this.turn();
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
  }

  /** Per-map counts: received, kernel drops, queue drops, queued. */
  stats(): Record<string, { received: number; kernelDropped: number; dropped: number; queued: number }> {
    const out: Record<string, { received: number; kernelDropped: number; dropped: number; queued: number }> =
      {};
    for (const s of this.streams.values())
      out[s.map] = {
        received: s.received,
        kernelDropped: this.kernelDrops(s),
        dropped: s.queue.dropped,
        queued: s.queue.length,
      };
    return out;
  }

  private kernelDrops(s: Stream): number {
    if (s.kind === 'perf_event_array') return (s.source as PerfBuffer | undefined)?.lost ?? 0;
    if (!this.object || this.object.closed) return 0;
    try {
      const drops = this.object.maps().find((m) => m.name === `${s.map}_drops`);
      if (!drops) return 0;
      const batch = this.object.map(drops.name).readAll();
      let n = 0;
      const step = Math.ceil(drops.valueSize / 8) * 8;
      for (let i = 0; i < batch.count; i++)
        for (let c = 0; c < drops.numCpus; c++)
          n += Number(batch.values.readBigUInt64LE(i * drops.valueStride + c * step));
      return n;
    } catch {
      return 0;
    }
  }

  private refreshStats(): void {
    const self = this.self;
    if (!self) return;
    const { config } = this.opts;
    for (const s of this.streams.values()) {
      const labels = { config, map: s.map };
      self.received.set(labels, s.received);
      self.dropped.set({ ...labels, reason: 'queue_full' }, s.queue.dropped);
      self.queued.set(labels, s.queue.length);
      const k = this.kernelDrops(s);
      if (s.kind === 'perf_event_array') {
        self.kernelDropped.set({ ...labels, reason: 'lost' }, k);
        for (const name of s.dropInCounters) self.dropIn.get(name)?.set({}, k);
      } else if (this.object?.maps().some((m) => m.name === `${s.map}_drops`)) {
        self.kernelDropped.set({ ...labels, reason: 'reserve' }, k);
      }
    }
  }

  /** Close every buffer (before the object closes) and complete the streams. Safe twice. */
  stop(): void {
    if (this.stopped) return;
    this.refreshStats();
    this.stopped = true;
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    for (const s of this.streams.values()) {
      s.source?.close();
      s.queue.clear();
    }
    if (this.self) {
      for (const f of [this.self.queued]) f.remove({ config: this.opts.config });
    }
    this.object = undefined;
    this.cgroupTable?.stop();
    this.spanSubject.complete();
    this.logSubject.complete();
  }
}
