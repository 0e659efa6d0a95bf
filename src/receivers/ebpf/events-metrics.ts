import type { HistogramSpec, LabelSlot, RawFamily, RawPoint } from '../../pipeline/data.ts';
import type { DecoderRegistry } from '../../decoders/decoder.ts';
import { parseDuration } from '../../config/types.ts';
import type { LabelConfig, ValueConfig } from './metrics.ts';
import { readField, RecordLabels, type DecodeStats, type Sink } from './events-labels.ts';

// Counters and histograms from event records: O(1) per record, run at drain time (see events.ts).

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
export class EventCounter implements Sink {
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
export class EventHistogram implements Sink {
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
