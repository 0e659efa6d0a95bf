import { z } from 'zod';
import { LIMITS, labelSchema, metricsSchema, regexpList } from './metrics.ts';

/**
 * The parts of an ebpf_exporter `<name>.yaml` beside its metrics (metrics.ts): spans, log
 * records and their fields, and the whole file.
 */

/** ebpf_exporter's `tracing.spans`: one span per ring buffer record (reserved labels → span fields). */
export const spanSchema = z.strictObject({
  /** Span name; default the ringbuf's name; a `span_name` label overrides it per record. */
  name: z.string().optional(),
  ringbuf: z.string().min(1),
  service: z.string().optional(),
  labels: z.array(labelSchema).max(LIMITS.labels).optional(),
});

/** A numeric field of an event record: unsigned little-endian (signed with `signed: true`). */
export const fieldSchema = z.strictObject({
  name: z.string().min(1),
  offset: z.number().int().nonnegative(),
  size: z.union([z.literal(1), z.literal(2), z.literal(4), z.literal(8)]),
  signed: z.boolean().optional(),
});

/** Our extension: records of an event map as OpenTelemetry log records. */
export const logSchema = z.strictObject({
  /** The event name (OTLP LogRecord.event_name), e.g. `exec`. */
  name: z.string().min(1),
  /** A ringbuf or perf_event_array map. */
  map: z.string().min(1),
  /** Body template: `{label}` / `{field}` are replaced by their values. Default: the event name. */
  body: z.string().optional(),
  severity: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).optional(),
  /** Decoded string attributes, cut from the record as labels are from map keys. */
  labels: z.array(labelSchema).max(LIMITS.labels).optional(),
  /** Numeric attributes. */
  fields: z.array(fieldSchema).optional(),
  /** A field holding the event's CLOCK_MONOTONIC time in ns (bpf_ktime_get_ns); default: when read. */
  time_field: z.string().optional(),
});

/** A whole ebpf_exporter `<name>.yaml`. */
export const exporterFileSchema = z.strictObject({
  metrics: metricsSchema.optional(),
  tracing: z.strictObject({ spans: z.array(spanSchema) }).optional(),
  logs: z.array(logSchema).optional(),
  kaddrs: z.array(z.string()).optional(),
  cgroup_id_map: z
    .strictObject({
      name: z.string(),
      type: z.enum(['hash', 'cgrp_storage']).optional(),
      regexps: regexpList,
    })
    .optional(),
});

export type ExporterFileConfig = z.infer<typeof exporterFileSchema>;
export type SpanConfig = z.infer<typeof spanSchema>;
export type LogConfig = z.infer<typeof logSchema>;
export type FieldConfig = z.infer<typeof fieldSchema>;
