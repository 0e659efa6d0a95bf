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
const regexpList = z.array(z.string()).superRefine((patterns, ctx) => {
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
  size: z.number().int().positive(),
  padding: z.number().int().nonnegative().optional(),
  decoders: z.array(decoderSchema).min(1),
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

/** Our extension: the map a metric reads; default the metric's own name (ebpf_exporter). */
const mapName = z.string().min(1);

/**
 * Our extension: the hook sets (bpf/include/hooks.bpf.h) whose programs fill
 * this metric. When a fallback measures something different it gets its own,
 * honestly named metric, exported only when that set is the one attached.
 * Absent: every set.
 */
const hookSets = z.array(z.string().min(1)).min(1);

/** A Go duration string, kept as written (ebpf_exporter's flush_interval). */
const durationText = z.string().superRefine((text, ctx) => {
  const ms = parseDuration(text);
  if (typeof ms === 'string')
    issueAt(ctx, [], text, C.value, `expected a duration like "1h", got ${quote(text)}: ${ms}`);
});

export const counterSchema = z
  .strictObject({
    name: z.string().min(1),
    help: z.string().min(1),
    labels: z.array(labelSchema).optional(),
    map: mapName.optional(),
    value: valueSchema.optional(),
    perf_event_array: z.boolean().optional(),
    flush_interval: durationText.optional(),
    hooks: hookSets.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.perf_event_array === true) {
      for (const key of ['map', 'value'] as const) {
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
    if (c.flush_interval !== undefined && c.perf_event_array !== true) {
      issueAt(
        ctx,
        ['flush_interval'],
        c.flush_interval,
        C.value,
        'flush_interval applies only to perf_event_array counters; set perf_event_array: true or remove it',
      );
    }
  });

export const gaugeSchema = z.strictObject({
  name: z.string().min(1),
  help: z.string().min(1),
  labels: z.array(labelSchema).optional(),
  map: mapName.optional(),
  value: valueSchema.optional(),
  hooks: hookSets.optional(),
});

export const histogramSchema = z
  .strictObject({
    name: z.string().min(1),
    help: z.string().min(1),
    map: mapName.optional(),
    bucket_type: z.enum(['exp2', 'exp2zero', 'linear', 'fixed']),
    bucket_min: z.number().int().nonnegative().optional(),
    bucket_max: z.number().int().nonnegative().optional(),
    bucket_multiplier: z.number().positive().optional(),
    bucket_keys: z.array(z.number()).optional(),
    hooks: hookSets.optional(),
    labels: z.array(labelSchema).min(1, { error: 'a histogram needs at least its bucket label' }),
  })
  .superRefine((h, ctx) => {
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
      }
    }
    // ebpf_exporter: the last label is the bucket index, parsed as an integer and dropped.
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

/** Metric names are one namespace across counters, gauges and histograms. */
export const metricsSchema = z
  .strictObject({
    counters: z.array(counterSchema).optional(),
    gauges: z.array(gaugeSchema).optional(),
    histograms: z.array(histogramSchema).optional(),
  })
  .superRefine((m, ctx) => {
    const seen = new Map<string, string>();
    for (const kind of ['counters', 'gauges', 'histograms'] as const) {
      (m[kind] ?? []).forEach((metric, i) => {
        const first = seen.get(metric.name);
        if (first !== undefined) {
          issueAt(
            ctx,
            [kind, i, 'name'],
            metric.name,
            C.value,
            `metric name ${quote(metric.name)} is already used by ${first}`,
          );
        } else {
          seen.set(metric.name, `${kind}[${i}]`);
        }
      });
    }
  });

const spanSchema = z.strictObject({
  name: z.string(),
  ringbuf: z.string().optional(),
  service: z.string().optional(),
  labels: z.array(labelSchema).optional(),
});

/** A whole ebpf_exporter `<name>.yaml`. */
export const exporterFileSchema = z.strictObject({
  metrics: metricsSchema.optional(),
  tracing: z.strictObject({ spans: z.array(spanSchema) }).optional(),
  kaddrs: z.array(z.string()).optional(),
  cgroup_id_map: z
    .strictObject({
      name: z.string(),
      type: z.enum(['hash', 'cgrp_storage']).optional(),
      regexps: regexpList,
    })
    .optional(),
});

export type DecoderConfig = z.infer<typeof decoderSchema>;
export type LabelConfig = z.infer<typeof labelSchema>;
export type CounterConfig = z.infer<typeof counterSchema>;
export type ValueConfig = z.infer<typeof valueSchema>;
export type HistogramConfig = z.infer<typeof histogramSchema>;
export type MetricsConfig = z.infer<typeof metricsSchema>;
export type ExporterFileConfig = z.infer<typeof exporterFileSchema>;
