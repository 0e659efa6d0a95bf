import { z } from 'zod';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { quote } from '../../config/describe.ts';
import { parseDuration } from '../../config/types.ts';
import { checkPattern } from './regexp.ts';

/**
 * ebpf_exporter's metric definitions, exactly (shared/reference/ebpf_exporter.md
 * §1): `metrics.counters` / `metrics.histograms` with labels of `size`,
 * `padding` and `decoders`; plus our `metrics.gauges`. Strict: unknown keys
 * are errors.
 */

const decoderNames = [
  'cgroup',
  'dname',
  'errno',
  'hex',
  'ifname',
  'inet_ip',
  'kstack',
  'ksym',
  'majorminor',
  'pci_class',
  'pci_device',
  'pci_subclass',
  'pci_vendor',
  'regexp',
  'static_map',
  'string',
  'syscall',
  'uint',
] as const;

/**
 * Bounds on metric definitions and receiver sizes (README "Limits"): each one rejected
 * with a positioned error, so no definition can make a scrape or a drain unbounded.
 */
export const LIMITS = {
  /** Buckets of one histogram (bucket_max - bucket_min + 1, or bucket_keys). */
  histogramBuckets: 1024,
  /** Labels of one metric. */
  labels: 32,
  /** Bytes of one label's slice of the map key. */
  labelSize: 4096,
  /** Entries of one static_map decoder. */
  staticMapEntries: 65_536,
  /** Patterns of one regexp decoder, and characters of one pattern. */
  regexps: 1024,
  regexpChars: 4096,
  /** Metrics of one kind (counters, gauges, histograms) in one definitions file. */
  metrics: 1024,
  /** events: queue_size, batch_size and perf_buffer_pages; skip_cache_size. */
  queueSize: 1_048_576,
  batchSize: 65_536,
  perfBufferPages: 1024,
  skipCacheSize: 1_000_000,
  /** Series of one event-derived metric (max_series). */
  maxSeries: 1_000_000,
  /**
   * max_entries of a map a metric reads: its series bound (every entry is read at every
   * collection). Checked against the object when it is opened, before the kernel makes the map.
   */
  mapEntries: 1_048_576,
  /** Bytes of a ring buffer the agent drains (its max_entries): mapped into the agent, up to all resident. */
  ringBytes: 256 * 1024 * 1024,
} as const;

type Ctx = z.core.$RefinementCtx;

/** A custom issue at `path` (relative to the refined value) keeping our code; `offset` points inside a string. */
function issueAt(
  ctx: Ctx,
  path: (string | number)[],
  input: unknown,
  code: string,
  message: string,
  offset?: number,
): void {
  ctx.addIssue({
    code: 'custom',
    path,
    input,
    message,
    params: offset === undefined ? { configCode: code } : { configCode: code, offset },
  });
}

/** Each pattern must compile (JS) and stay within RE2 (ebpf_exporter): reported inside the pattern. */
export const regexpList = z
  .array(z.string().max(LIMITS.regexpChars))
  .max(LIMITS.regexps)
  .superRefine((patterns, ctx) => {
    patterns.forEach((p, i) => {
      const problem = checkPattern(p);
      if (problem) issueAt(ctx, [i], p, C.regexp, `regexp ${quote(p)} ${problem.message}`, problem.offset);
    });
  });

export const decoderSchema = z
  .strictObject({
    name: z.enum(decoderNames),
    /** Raw value → label value; YAML numbers and booleans as keys or values are read as text. */
    static_map: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String))
      .refine((m) => Object.keys(m).length <= LIMITS.staticMapEntries, {
        message: `at most ${LIMITS.staticMapEntries} entries`,
      })
      .optional(),
    allow_unknown: z.boolean().optional(),
    regexps: regexpList.optional(),
  })
  .superRefine((d, ctx) => {
    if (d.name === 'static_map' && d.static_map === undefined) {
      issueAt(ctx, [], d, C.missing, 'the static_map decoder needs static_map: { <raw value>: <label> }');
    }
    if (d.name === 'regexp' && (d.regexps === undefined || d.regexps.length === 0)) {
      issueAt(ctx, [], d, C.missing, 'the regexp decoder needs regexps: [<pattern>, ...]');
    }
  });

export const labelSchema = z.strictObject({
  name: z.string().min(1),
  size: z.number().int().positive().max(LIMITS.labelSize),
  padding: z.number().int().nonnegative().max(LIMITS.labelSize).optional(),
  decoders: z.array(decoderSchema).min(1).max(16),
});

/**
 * Our extension: where a counter or gauge finds its number in a map value
 * that is a struct. Unsigned little-endian, 4 or 8 bytes at `offset`.
 * Without it the whole value must be one u64 (ebpf_exporter).
 */
export const valueSchema = z.strictObject({
  offset: z.number().int().nonnegative(),
  size: z.union([z.literal(4), z.literal(8)], {
    error: (iss) => (iss.input === undefined ? undefined : 'expected 4 or 8 (bytes of an unsigned integer)'),
  }),
});

/**
 * Our extension: the label bytes are read from the map value instead of the map key — a map
 * (an array) whose entries are slots each holding a key and its count. `size` is what the
 * labels cut (their sizes and padding); an entry whose key bytes are all zero is an unused
 * slot and is skipped.
 */
export const keySchema = z.strictObject({
  offset: z.number().int().nonnegative(),
  size: z
    .number()
    .int()
    .positive()
    .max(LIMITS.labelSize * LIMITS.labels),
});

/** Our extension: the map a metric reads; default the metric's own name (ebpf_exporter). */
const mapName = z.string().min(1);

/**
 * Our extension: the hook sets (bpf/include/hooks.bpf.h) whose programs fill
 * this metric. When a fallback measures something different it gets its own,
 * honestly named metric, exported only when that set is the one attached.
 * Absent: every set.
 */
const hookSets = z.array(z.string().min(1)).min(1);

const MAX_SERIES_MAP_ONLY =
  'max_series applies only to metrics over events (events: or perf_event_array: true); a map-derived metric is bounded by its map (max_entries)';

/** A Go duration string, kept as written (ebpf_exporter's flush_interval). */
const durationText = z.string().superRefine((text, ctx) => {
  const ms = parseDuration(text);
  if (typeof ms === 'string')
    issueAt(ctx, [], text, C.value, `expected a duration like "1h", got ${quote(text)}: ${ms}`);
});

/** What a counter and a gauge read from a map have alike. */
const scalarFields = {
  name: z.string().min(1),
  help: z.string().min(1),
  labels: z.array(labelSchema).max(LIMITS.labels).optional(),
  map: mapName.optional(),
  value: valueSchema.optional(),
  key: keySchema.optional(),
};

export const counterSchema = z
  .strictObject({
    ...scalarFields,
    perf_event_array: z.boolean().optional(),
    /**
     * Our extension: count the records of this event map (a ringbuf or a
     * perf_event_array): +1 per record, or + the `value` field of the record.
     */
    events: mapName.optional(),
    flush_interval: durationText.optional(),
    /** Our extension: series budget of this event counter (overrides the receiver's max_series). */
    max_series: z.number().int().positive().max(LIMITS.maxSeries).optional(),
    hooks: hookSets.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.events !== undefined && (c.perf_event_array === true || c.map !== undefined)) {
      issueAt(
        ctx,
        ['events'],
        c.events,
        C.value,
        'events names the event map itself: drop perf_event_array and map (perf_event_array counters read the map of their name)',
      );
    }
    if (c.events !== undefined && c.key !== undefined)
      issueAt(ctx, ['key'], c.key, C.value, 'key applies only to counters read from a map, not to events');
    if (c.perf_event_array === true) {
      for (const key of ['map', 'value', 'key'] as const) {
        if (c[key] !== undefined)
          issueAt(
            ctx,
            [key],
            c[key],
            C.value,
            `${key} applies only to counters read from a map, not to perf_event_array counters`,
          );
      }
    }
    if (c.flush_interval !== undefined && c.perf_event_array !== true && c.events === undefined) {
      issueAt(
        ctx,
        ['flush_interval'],
        c.flush_interval,
        C.value,
        'flush_interval applies only to event counters (perf_event_array: true or events:); remove it',
      );
    }
    if (c.max_series !== undefined && c.perf_event_array !== true && c.events === undefined) {
      issueAt(ctx, ['max_series'], c.max_series, C.value, MAX_SERIES_MAP_ONLY);
    }
    keyNeedsLabels(c, ctx);
  });

export const gaugeSchema = z
  .strictObject({
    ...scalarFields,
    hooks: hookSets.optional(),
  })
  .superRefine(keyNeedsLabels);

/** `key:` says where the labels' bytes are: a metric without labels has none to read. */
function keyNeedsLabels(m: { key?: unknown; labels?: readonly unknown[] | undefined }, ctx: Ctx): void {
  if (m.key !== undefined && (m.labels ?? []).length === 0)
    issueAt(ctx, ['key'], m.key, C.value, 'key: says where the labels are in the map value: add labels');
}

export const histogramSchema = z
  .strictObject({
    name: z.string().min(1),
    help: z.string().min(1),
    map: mapName.optional(),
    bucket_type: z.enum(['exp2', 'exp2zero', 'linear', 'fixed']),
    bucket_min: z.number().int().nonnegative().optional(),
    bucket_max: z.number().int().nonnegative().optional(),
    bucket_multiplier: z.number().positive().optional(),
    bucket_keys: z.array(z.number()).max(LIMITS.histogramBuckets).optional(),
    hooks: hookSets.optional(),
    /** Our extension: bucket a numeric field (`value`) of this event map's records, by the labels given. */
    events: mapName.optional(),
    value: valueSchema.optional(),
    labels: z.array(labelSchema).max(LIMITS.labels).optional(),
    /** Our extension: series budget of this histogram over events (overrides the receiver's max_series). */
    max_series: z.number().int().positive().max(LIMITS.maxSeries).optional(),
  })
  .superRefine((h, ctx) => {
    if (h.max_series !== undefined && h.events === undefined)
      issueAt(ctx, ['max_series'], h.max_series, C.value, MAX_SERIES_MAP_ONLY);
    if (h.events !== undefined && h.value === undefined)
      issueAt(
        ctx,
        [],
        h,
        C.missing,
        'a histogram over events needs value: { offset, size } (the field to bucket)',
      );
    if (h.events === undefined && h.value !== undefined)
      issueAt(
        ctx,
        ['value'],
        h.value,
        C.value,
        'value applies only to histograms over events (events: <map>)',
      );
    if (h.events === undefined && (h.labels === undefined || h.labels.length === 0))
      issueAt(ctx, ['labels'], h.labels, C.missing, 'a histogram needs at least its bucket label');
    if (h.bucket_type === 'fixed') {
      if (h.bucket_keys === undefined || h.bucket_keys.length === 0) {
        issueAt(ctx, [], h, C.missing, 'bucket_type fixed needs bucket_keys: [<upper bound>, ...]');
      } else {
        h.bucket_keys.forEach((k, i) => {
          const prev = h.bucket_keys?.[i - 1];
          if (prev !== undefined && k <= prev) {
            issueAt(
              ctx,
              ['bucket_keys', i],
              k,
              C.value,
              `bucket_keys must increase, but ${k} follows ${prev}`,
            );
          }
        });
      }
    } else {
      for (const key of ['bucket_min', 'bucket_max'] as const) {
        if (h[key] === undefined) {
          issueAt(ctx, [], h, C.missing, `bucket_type ${h.bucket_type} needs ${key}`);
        }
      }
      if (h.bucket_min !== undefined && h.bucket_max !== undefined && h.bucket_min > h.bucket_max) {
        issueAt(
          ctx,
          ['bucket_max'],
          h.bucket_max,
          C.value,
          `bucket_max (${h.bucket_max}) must not be below bucket_min (${h.bucket_min})`,
        );
      } else if (
        h.bucket_min !== undefined &&
        h.bucket_max !== undefined &&
        (h.bucket_multiplier ?? 1) > 0 // else the multiplier's own error says it
      ) {
        const problem = bucketProblem(h.bucket_type, h.bucket_min, h.bucket_max, h.bucket_multiplier ?? 1);
        if (problem) issueAt(ctx, ['bucket_max'], h.bucket_max, C.value, problem);
      }
    }
    // ebpf_exporter: the last label is the bucket index, parsed as an integer and dropped.
    // (Histograms over events compute the bucket from the value field instead.)
    if (h.events !== undefined || h.labels === undefined) return;
    const last = h.labels.length - 1;
    const bucket = h.labels[last];
    if (bucket === undefined) return;
    if (bucket.name === 'cpu') {
      issueAt(
        ctx,
        ['labels', last, 'name'],
        bucket.name,
        C.value,
        'the last label of a histogram is its bucket index, so it cannot be the cpu label; put cpu before it',
      );
    }
    const decoders = bucket.decoders;
    const final = decoders[decoders.length - 1];
    if (final !== undefined && final.name !== 'uint') {
      issueAt(
        ctx,
        ['labels', last, 'decoders', decoders.length - 1, 'name'],
        final.name,
        C.value,
        `the last label of a histogram is its bucket index and must decode to an integer: end its decoders with uint, got ${quote(final.name)}`,
      );
    }
  });

/**
 * Why bucket_min..bucket_max (times bucket_multiplier) is not a usable histogram, or
 * undefined: at most LIMITS.histogramBuckets buckets, every upper bound a finite number
 * above the one before (2^1100 or a multiplier of 1e-320 would give Infinity or repeats).
 */
export function bucketProblem(
  type: string,
  min: number,
  max: number,
  multiplier: number,
): string | undefined {
  const count = max - min + 1;
  if (count > LIMITS.histogramBuckets)
    return `bucket_min..bucket_max gives ${count} buckets; a histogram has at most ${LIMITS.histogramBuckets}`;
  const bound = (i: number): number =>
    type === 'exp2'
      ? 2 ** i * multiplier
      : type === 'exp2zero'
        ? i === 0
          ? 0
          : 2 ** (i - 1) * multiplier
        : i * multiplier;
  let prev = -Infinity;
  for (let i = min; i <= max; i++) {
    const b = bound(i);
    if (!Number.isFinite(b))
      return `bucket ${i} has no finite upper bound with bucket_multiplier ${multiplier}; lower bucket_max`;
    if (b <= prev)
      return `buckets ${i - 1} and ${i} have the same upper bound (${b}) with bucket_multiplier ${multiplier}`;
    prev = b;
  }
  return undefined;
}

/**
 * Metric names are one namespace across counters, gauges and histograms. Our extension: a
 * counter or gauge read from a map may repeat its name with the same kind, help and labels,
 * reading another map (or another part of one): one metric, the maps' values summed by label
 * set.
 */
export const metricsSchema = z
  .strictObject({
    counters: z.array(counterSchema).max(LIMITS.metrics).optional(),
    gauges: z.array(gaugeSchema).max(LIMITS.metrics).optional(),
    histograms: z.array(histogramSchema).max(LIMITS.metrics).optional(),
  })
  .superRefine((m, ctx) => {
    const seen = new Map<string, { at: string; kind: string; metric: NamedMetric }[]>();
    for (const kind of ['counters', 'gauges', 'histograms'] as const) {
      (m[kind] ?? []).forEach((metric: NamedMetric, i) => {
        const before = seen.get(metric.name) ?? [];
        for (const first of before) {
          const why = repeatProblem(first.kind, first.metric, kind, metric);
          if (why === undefined) continue;
          issueAt(
            ctx,
            [kind, i, 'name'],
            metric.name,
            C.value,
            `metric name ${quote(metric.name)} is already used by ${first.at}${why}`,
          );
          return;
        }
        seen.set(metric.name, [...before, { at: `${kind}[${i}]`, kind, metric }]);
      });
    }
  });

interface NamedMetric {
  readonly name: string;
  readonly help: string;
  readonly labels?: readonly LabelConfig[] | undefined;
  readonly map?: string | undefined;
  readonly value?: ValueConfig | undefined;
  readonly key?: KeyConfig | undefined;
  readonly events?: string | undefined;
  readonly perf_event_array?: boolean | undefined;
}

/**
 * Why `b` may not repeat the name of `a` (undefined: it may — both read maps, same kind,
 * help and labels, not the same part of the same map); a clause appended to the error.
 */
function repeatProblem(aKind: string, a: NamedMetric, bKind: string, b: NamedMetric): string | undefined {
  const fromMap = (k: string, x: NamedMetric): boolean =>
    k !== 'histograms' && x.events === undefined && x.perf_event_array !== true;
  if (!fromMap(aKind, a) || !fromMap(bKind, b)) return '';
  const hint = ' (a metric summed from several maps repeats its kind, help and labels exactly)';
  if (aKind !== bKind || a.help !== b.help || JSON.stringify(a.labels) !== JSON.stringify(b.labels))
    return hint;
  const part = (x: NamedMetric): string => JSON.stringify([x.map ?? x.name, x.value ?? null, x.key ?? null]);
  return part(a) === part(b) ? ' (reading the same map the same way: it would count twice)' : undefined;
}

export type DecoderConfig = z.infer<typeof decoderSchema>;
export type LabelConfig = z.infer<typeof labelSchema>;
export type CounterConfig = z.infer<typeof counterSchema>;
export type ValueConfig = z.infer<typeof valueSchema>;
export type KeyConfig = z.infer<typeof keySchema>;
export type HistogramConfig = z.infer<typeof histogramSchema>;
export type MetricsConfig = z.infer<typeof metricsSchema>;
