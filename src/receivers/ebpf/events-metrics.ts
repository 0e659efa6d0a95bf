import type { HistogramSpec, LabelSlot, RawFamily } from '../../pipeline/data.ts';
import { rawColumnsFamily } from '../../pipeline/series.ts';
import type { DecoderRegistry } from '../../decoders/decoder.ts';
import { parseDuration } from '../../config/types.ts';
import type { LabelConfig, ValueConfig } from './metrics.ts';
import {
  readField,
  RecordLabels,
  viewOf,
  type DecodeStats,
  type InlineSink,
  type Sink,
} from './events-labels.ts';
import { EventTable } from './events-table.ts';

// Counters and histograms from event records: O(1) per record, run at drain time (see events.ts).

/**
 * How the table of one event-derived metric is bounded (the receiver's `max_series` and
 * `series_idle_expiry`, or the metric's own `max_series`).
 */
export interface SeriesBounds {
  /** Distinct label sets (table entries) kept; beyond, records go to the overflow series. */
  readonly maxSeries: number;
  /** Entries that receive no record for this long are dropped; 0: never. */
  readonly idleExpiryMs: number;
  /** Called once per metric, at its first record beyond the budget (the receiver logs it). */
  readonly onOverflow?: ((metric: string, maxSeries: number) => void) | undefined;
}

/** No bound (tests and direct users). */
export const UNBOUNDED: SeriesBounds = { maxSeries: Number.MAX_SAFE_INTEGER, idleExpiryMs: 0 };

/**
 * The label of the one series that takes every record beyond a metric's budget, as the
 * OpenTelemetry SDK's cardinality limit names it (`otel_metric_overflow` on Prometheus).
 */
export const OVERFLOW_LABEL = 'otel.metric.overflow';
/** The overflow series' labels: one array per metric (a row belongs to one table). */
function overflowSlots(): readonly LabelSlot[] {
  return [{ name: OVERFLOW_LABEL, value: 'true', pending: [] }];
}
const NO_BYTES = new Uint8Array(0);

/** Makes a sink's table entries (a method of the sink: no closure per record). */
interface EntryMaker<E extends Entry> {
  /** A new key's entry: `record` (a view valid during the call) is decoded once. */
  newEntry(raw: Uint8Array, record: Buffer): E;
  overflowEntry(): E;
}

interface Entry {
  raw: Uint8Array;
  labels: readonly LabelSlot[] | undefined | string;
  /** The expiry generation of its last record. */
  gen: number;
}

/**
 * Series by the raw bytes of their labels, found per record without building
 * a string: a 32-bit hash, then a byte compare. Each distinct key is decoded
 * once; `labels` is then the slots, undefined (a regexp dropped the set) or a
 * string (its decode error, counted per record).
 *
 * Bounded: at most `maxSeries` entries (whatever their outcome: a dropped or failing key
 * costs memory too); a record of a new key beyond it is counted in `overflowed` and
 * lands in the one overflow entry, not decoded. Entries idle past `idleExpiryMs` are
 * dropped by `expire`: time runs in generations of a quarter of the expiry (so a record
 * costs one integer store, no clock read), and an entry whose last generation is more
 * than the expiry behind is idle; it goes within 1.5 × the expiry plus one read.
 */
class KeyedSeries<E extends Entry> {
  private readonly buckets = new Map<number, E[]>();
  private readonly labels: RecordLabels;
  private readonly bounds: SeriesBounds;
  private readonly genMs: number;
  private readonly idleGens: number;
  private count = 0;
  private overflowEntry: E | undefined;
  private gen = 0;
  private genStartMs = Date.now();
  /** Records folded into the overflow entry since start (series_budget_overflow_total). */
  overflowed = 0;
  /** Entries dropped as idle since start (tests). */
  expired = 0;

  constructor(labels: RecordLabels, bounds: SeriesBounds) {
    this.labels = labels;
    this.bounds = bounds;
    this.genMs = bounds.idleExpiryMs > 0 ? Math.max(250, Math.floor(bounds.idleExpiryMs / 4)) : 0;
    this.idleGens = this.genMs > 0 ? Math.ceil(bounds.idleExpiryMs / this.genMs) : 0;
  }

  /** Entries held (the overflow entry aside). */
  get size(): number {
    return this.count;
  }

  /**
   * The entry of the record of `len` bytes at `at`: found by its label bytes, else made
   * (maker.newEntry: decoded once), else — beyond the budget — the overflow entry.
   */
  find(bytes: Buffer, at: number, len: number, maker: EntryMaker<E>): E {
    const labels = this.labels;
    const h = labels.hash(bytes, at, len);
    const bucket = this.buckets.get(h);
    if (bucket) {
      for (let i = 0; i < bucket.length; i++) {
        const e = bucket[i] as E;
        if (labels.matches(bytes, at, len, e.raw)) {
          e.gen = this.gen;
          return e;
        }
      }
    }
    if (this.count >= this.bounds.maxSeries) {
      this.overflowed++;
      let o = this.overflowEntry;
      if (o === undefined) {
        o = this.overflowEntry = maker.overflowEntry();
        if (this.overflowed === 1) this.onFirstOverflow?.();
      }
      o.gen = this.gen;
      return o;
    }
    const e = maker.newEntry(labels.rawOf(bytes, at, len), bytes.subarray(at, at + len));
    e.gen = this.gen;
    if (bucket) bucket.push(e);
    else this.buckets.set(h, [e]);
    this.count++;
    return e;
  }

  /** Set by the sink: log the first overflow (once per metric). */
  onFirstOverflow: (() => void) | undefined;

  *values(): IterableIterator<E> {
    for (const bucket of this.buckets.values()) yield* bucket;
    if (this.overflowEntry) yield this.overflowEntry;
  }

  /** Drop entries idle past the expiry (when a generation has passed since the last call). */
  expire(now: number): void {
    if (this.genMs === 0) return;
    const steps = Math.floor((now - this.genStartMs) / this.genMs);
    if (steps <= 0) return;
    this.gen += steps;
    this.genStartMs += steps * this.genMs;
    const oldest = this.gen - this.idleGens;
    for (const [h, bucket] of this.buckets) {
      let kept = 0;
      for (let i = 0; i < bucket.length; i++) {
        const e = bucket[i] as E;
        if (e.gen >= oldest) bucket[kept++] = e;
      }
      if (kept === bucket.length) continue;
      this.expired += bucket.length - kept;
      this.count -= bucket.length - kept;
      if (kept === 0) this.buckets.delete(h);
      else bucket.length = kept;
    }
    if (this.overflowEntry !== undefined && this.overflowEntry.gen < oldest) this.overflowEntry = undefined;
  }

  clear(): void {
    this.buckets.clear();
    this.count = 0;
    this.overflowEntry = undefined;
  }
}

function boundedSeries<E extends Entry>(
  labels: RecordLabels,
  bounds: SeriesBounds,
  name: string,
): KeyedSeries<E> {
  const series = new KeyedSeries<E>(labels, bounds);
  const report = bounds.onOverflow;
  if (report) series.onFirstOverflow = () => report(name, bounds.maxSeries);
  return series;
}

function decodeOnce(
  labels: RecordLabels,
  record: Buffer,
  registry: DecoderRegistry,
  what: string,
): readonly LabelSlot[] | undefined | string {
  try {
    return labels.decode(record, registry);
  } catch (err) {
    return `${what}: ${(err as Error).message}`;
  }
}

/** +1 (or + value) per record by decoded labels; reset every flush_interval (ebpf_exporter). */
type CounterEntry = Entry & { value: number };

export class EventCounter implements Sink, InlineSink, EntryMaker<CounterEntry> {
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
  private readonly series: KeyedSeries<CounterEntry>;
  private startTimeMs = Date.now();
  /** The rows emitted, kept across collections (series-table contract). */
  private readonly table = new EventTable();
  private readonly overflowLabels = overflowSlots();

  constructor(
    def: { name: string; help: string; labels?: LabelConfig[] | undefined; value?: ValueConfig | undefined },
    flushInterval: string | undefined,
    dropIn: boolean,
    registry: DecoderRegistry,
    bounds: SeriesBounds = UNBOUNDED,
  ) {
    this.name = def.name;
    this.help = def.help;
    this.dropIn = dropIn;
    this.labels = new RecordLabels(def.labels ?? []);
    this.series = boundedSeries(this.labels, bounds, def.name);
    this.value = def.value;
    const ms = parseDuration(flushInterval ?? '1h');
    this.flushMs = typeof ms === 'number' && ms > 0 ? ms : 3_600_000;
    this.registry = registry;
  }

  /** One record (tests and direct users); the receiver hands records in place (onRecordAt). */
  onRecord(record: Buffer, stats: DecodeStats): void {
    this.onRecordAt(record, viewOf(record), 0, record.length, stats);
  }

  onRecordAt(bytes: Buffer, view: DataView, at: number, len: number, stats: DecodeStats): void {
    const s = this.series.find(bytes, at, len, this);
    if (typeof s.labels === 'string') {
      stats.errors++;
      stats.last = s.labels;
      return;
    }
    if (!s.labels) return;
    let delta = 1;
    if (this.value) {
      try {
        delta = readField(view, at, len, this.value);
      } catch (err) {
        stats.errors++;
        stats.last = `metric ${this.name}: ${(err as Error).message}`;
        return;
      }
    }
    s.value += delta;
  }

  /** @internal EntryMaker */
  newEntry(raw: Uint8Array, record: Buffer): CounterEntry {
    return {
      raw,
      labels: decodeOnce(this.labels, record, this.registry, `metric ${this.name}`),
      value: 0,
      gen: 0,
    };
  }

  /** @internal EntryMaker */
  overflowEntry(): CounterEntry {
    return { raw: NO_BYTES, labels: this.overflowLabels, value: 0, gen: 0 };
  }

  /** Reset (ebpf_exporter's flush_interval) when due, drop idle series; called on every read. */
  tick(now: number): void {
    this.maybeFlush(now);
    this.series.expire(now);
  }

  /** Records counted in the overflow series since start; series held. */
  get overflowed(): number {
    return this.series.overflowed;
  }

  get seriesCount(): number {
    return this.series.size;
  }

  private maybeFlush(now: number): void {
    if (now - this.startTimeMs < this.flushMs) return;
    this.series.clear();
    this.startTimeMs = now;
  }

  /** A series table: one row per series that counted something (its decoded labels), in table order. */
  family(now: number): RawFamily {
    this.tick(now);
    const table = this.table;
    table.begin();
    for (const s of this.series.values())
      if (typeof s.labels === 'object' && s.value !== 0) table.push(s.labels, s.value);
    return rawColumnsFamily(
      { name: this.name, help: this.help, kind: 'counter', startTimeMs: this.startTimeMs },
      table.end(),
    );
  }
}

/**
 * Buckets a numeric field by decoded labels, in ebpf_exporter's bucket layouts (raw value units).
 * `rows`: the row (labels + bucket) of each bucket key seen and of the sum, made once.
 */
type HistogramEntry = Entry & { counts: Map<number, number>; sum: number; rows: Map<number, LabelSlot[]> };

export class EventHistogram implements Sink, InlineSink, EntryMaker<HistogramEntry> {
  readonly name: string;
  private readonly help: string;
  private readonly labels: RecordLabels;
  private readonly value: ValueConfig;
  private readonly spec: HistogramSpec;
  private readonly registry: DecoderRegistry;
  /** By the raw bytes of the label region, as EventCounter. */
  private readonly series: KeyedSeries<HistogramEntry>;
  private readonly startTimeMs = Date.now();
  private readonly table = new EventTable();

  constructor(
    def: { name: string; help: string; labels?: LabelConfig[] | undefined; value: ValueConfig },
    spec: HistogramSpec,
    registry: DecoderRegistry,
    bounds: SeriesBounds = UNBOUNDED,
  ) {
    this.name = def.name;
    this.help = def.help;
    this.labels = new RecordLabels(def.labels ?? []);
    this.series = boundedSeries(this.labels, bounds, def.name);
    this.value = def.value;
    this.spec = spec;
    this.registry = registry;
  }

  /** One record (tests and direct users); the receiver hands records in place (onRecordAt). */
  onRecord(record: Buffer, stats: DecodeStats): void {
    this.onRecordAt(record, viewOf(record), 0, record.length, stats);
  }

  onRecordAt(bytes: Buffer, view: DataView, at: number, len: number, stats: DecodeStats): void {
    const s = this.series.find(bytes, at, len, this);
    if (typeof s.labels === 'string') {
      stats.errors++;
      stats.last = s.labels;
      return;
    }
    if (!s.labels) return;
    let v: number;
    try {
      v = readField(view, at, len, this.value);
    } catch (err) {
      stats.errors++;
      stats.last = `metric ${this.name}: ${(err as Error).message}`;
      return;
    }
    const b = bucketOf(this.spec, v);
    s.counts.set(b, (s.counts.get(b) ?? 0) + 1);
    s.sum += v;
  }

  /** @internal EntryMaker */
  newEntry(raw: Uint8Array, record: Buffer): HistogramEntry {
    return {
      raw,
      labels: decodeOnce(this.labels, record, this.registry, `metric ${this.name}`),
      counts: new Map<number, number>(),
      sum: 0,
      gen: 0,
      rows: new Map<number, LabelSlot[]>(),
    };
  }

  /** @internal EntryMaker */
  overflowEntry(): HistogramEntry {
    return {
      raw: NO_BYTES,
      labels: overflowSlots(),
      counts: new Map<number, number>(),
      sum: 0,
      gen: 0,
      rows: new Map<number, LabelSlot[]>(),
    };
  }

  /** Drop idle series; called on every read. */
  tick(now: number): void {
    this.series.expire(now);
  }

  get overflowed(): number {
    return this.series.overflowed;
  }

  get seriesCount(): number {
    return this.series.size;
  }

  /**
   * A series table: per series, a row per bucket key seen (in the order first seen) with its
   * count, then the sum row (bucket = the sum slot), as ebpf_exporter's histogram map reads.
   */
  family(now: number = Date.now()): RawFamily {
    this.tick(now);
    const sumAt =
      this.spec.bucketType === 'fixed'
        ? (this.spec.bucketKeys[this.spec.bucketKeys.length - 1] ?? 0) + 1
        : this.spec.bucketMax + 1;
    const table = this.table;
    table.begin();
    for (const s of this.series.values()) {
      if (typeof s.labels !== 'object' || s.counts.size === 0) continue;
      for (const [b, n] of s.counts) table.push(rowOf(s, b), n);
      table.push(rowOf(s, sumAt), s.sum);
    }
    return rawColumnsFamily(
      {
        name: this.name,
        help: this.help,
        kind: 'histogram',
        histogram: this.spec,
        startTimeMs: this.startTimeMs,
      },
      table.end(),
    );
  }
}

/** The row of bucket key `b` (or the sum slot) of a histogram series: its labels and `bucket`, made once. */
function rowOf(s: HistogramEntry, b: number): LabelSlot[] {
  let row = s.rows.get(b);
  if (row === undefined) {
    row = [...(s.labels as readonly LabelSlot[]), { name: 'bucket', value: String(b), pending: [] }];
    s.rows.set(b, row);
  }
  return row;
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
