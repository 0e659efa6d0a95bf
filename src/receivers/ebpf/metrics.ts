import { z } from 'zod';

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

export const decoderSchema = z.strictObject({
  name: z.enum(decoderNames),
  static_map: z.record(z.string(), z.coerce.string()).optional(),
  allow_unknown: z.boolean().optional(),
  regexps: z.array(z.string()).optional(),
});

export const labelSchema = z.strictObject({
  name: z.string().min(1),
  size: z.number().int().positive(),
  padding: z.number().int().nonnegative().optional(),
  decoders: z.array(decoderSchema).min(1),
});

const durationText = z.string().regex(/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/, 'expected a duration like "1h"');

export const counterSchema = z.strictObject({
  name: z.string().min(1),
  help: z.string().min(1),
  labels: z.array(labelSchema).optional(),
  perf_event_array: z.boolean().optional(),
  flush_interval: durationText.optional(),
});

export const gaugeSchema = z.strictObject({
  name: z.string().min(1),
  help: z.string().min(1),
  labels: z.array(labelSchema).optional(),
});

export const histogramSchema = z.strictObject({
  name: z.string().min(1),
  help: z.string().min(1),
  bucket_type: z.enum(['exp2', 'exp2zero', 'linear', 'fixed']),
  bucket_min: z.number().int().nonnegative().optional(),
  bucket_max: z.number().int().nonnegative().optional(),
  bucket_multiplier: z.number().positive().optional(),
  bucket_keys: z.array(z.number()).optional(),
  labels: z.array(labelSchema).min(1),
});

export const metricsSchema = z.strictObject({
  counters: z.array(counterSchema).optional(),
  gauges: z.array(gaugeSchema).optional(),
  histograms: z.array(histogramSchema).optional(),
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
      regexps: z.array(z.string()),
    })
    .optional(),
});

export type DecoderConfig = z.infer<typeof decoderSchema>;
export type LabelConfig = z.infer<typeof labelSchema>;
export type CounterConfig = z.infer<typeof counterSchema>;
export type HistogramConfig = z.infer<typeof histogramSchema>;
export type MetricsConfig = z.infer<typeof metricsSchema>;
export type ExporterFileConfig = z.infer<typeof exporterFileSchema>;
