import { z } from 'zod';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { duration } from '../../config/types.ts';
import { logSchema, spanSchema } from './file-schema.ts';
import { LIMITS, metricsSchema } from './metrics.ts';

/** Shortest `poll_interval`: reading every map more often costs CPU and says nothing new. */
export const MIN_POLL_MS = 100;

/**
 * receiver `ebpf`: one BPF object, its metric definitions and how it is read.
 * Defaults live here and nowhere else.
 */
export const configSchema = z
  .strictObject({
    /** A program name (`timers` → build/bpf/timers.bpf.o) or a path to a `.bpf.o`. */
    program: z.string().min(1),
    /** ebpf_exporter's metric definitions, inline. */
    metrics: metricsSchema.optional(),
    /** ebpf_exporter's `tracing.spans`, inline (with metrics:, instead of the file). */
    tracing: z.strictObject({ spans: z.array(spanSchema) }).optional(),
    /** Event records as log records, inline (with metrics:, instead of the file). */
    logs: z.array(logSchema).optional(),
    /** Event streams (ring buffers, perf event arrays): how they are drained and bounded. */
    events: z
      .strictObject({
        /** Records held between the kernel and decoding, per map; beyond it records are dropped and counted. */
        queue_size: z.number().int().positive().max(LIMITS.queueSize).default(65_536),
        /** Which records a full queue drops: the new ones (default) or the oldest held. */
        overflow: z.enum(['drop_newest', 'drop_oldest']).default('drop_newest'),
        /** Records decoded per event-loop turn before yielding. */
        batch_size: z.number().int().positive().max(LIMITS.batchSize).default(4096),
        /** How often ring and perf buffers are drained (records submitted without wake-up). */
        drain_interval: duration({ minMs: 1 }).default(50),
        /** Pages per CPU of each perf buffer (a power of two). */
        perf_buffer_pages: z
          .number()
          .int()
          .positive()
          .max(LIMITS.perfBufferPages)
          .refine((n) => (n & (n - 1)) === 0, { message: 'expected a power of two' })
          .default(64),
      })
      .prefault({}),
    /** An ebpf_exporter-style `<name>.yaml`; default: bpf/<program>.yaml for a named program. */
    metrics_file: z.string().min(1).optional(),
    /** How often the maps are read; at least MIN_POLL_MS (a 0 would read them every millisecond). */
    poll_interval: duration({ minMs: MIN_POLL_MS }).default(15_000),
    /** External BTF for kernels without /sys/kernel/btf/vmlinux. */
    btf_path: z.string().min(1).optional(),
    /** Values for `const volatile` globals, set before load. */
    globals: z.record(z.string(), z.union([z.number(), z.boolean(), z.string()])).default({}),
    /** Kernel symbols whose addresses are set as `kaddr_<sym>` globals before load. */
    kaddrs: z.array(z.string()).default([]),
    /** Fail start when a program does not attach or no hook set works (ebpf_exporter's --config.strict). */
    strict: z.boolean().default(false),
    /**
     * The program may not run on every host (e.g. llcstat without a hardware PMU): when no hook
     * set runs, or a program of the chosen set does not attach, it is skipped with an info
     * line and the agent stays ready. Without it, that is a failure: an error line, and
     * `/readyz` and `health_check` answer not ready.
     */
    optional: z.boolean().default(false),
    /** Hook sets in order of preference (program function names are `<set>__<name>`). */
    hooks: z.array(z.string().min(1)).optional(),
    /**
     * Files to attach uprobe/usdt sections to: a section's target as written
     * (`python3` in `usdt/python3:python:…`, or a path) → an absolute path.
     * Unmapped targets are resolved by libbpf ($PATH, then /usr/bin:/usr/sbin).
     */
    binaries: z
      .record(z.string().min(1), z.string().regex(/^\//, { error: 'expected an absolute path' }))
      .default({}),
    /**
     * Keys per metric whose label set a decoder dropped (a `regexp` with no match), remembered
     * so they are not decoded again (ebpf_exporter's --config.skip-cache-size); 0: off. Only
     * matters for labels with a decoder that reads a changing table (ifname, kstack,
     * majorminor): otherwise every live key's outcome is kept anyway.
     */
    skip_cache_size: z.number().int().nonnegative().max(LIMITS.skipCacheSize).default(0),
    /**
     * Series budget of each metric counted from event records (a metric's own `max_series`
     * overrides it): a record whose label set would make one more series is counted in one
     * `otel.metric.overflow="true"` series instead, and in series_budget_overflow_total.
     * Map-derived metrics are bounded by their map's max_entries.
     */
    max_series: z.number().int().positive().max(LIMITS.maxSeries).default(10_000),
    /** Series of event-derived metrics that receive no record for this long are dropped (0: never). */
    series_idle_expiry: duration().default(600_000),
    /**
     * Maps read by a metric with a `cgroup`-decoded label: how long the keys of a removed cgroup
     * stay before the agent deletes them (so a per-cgroup map does not fill with dead cgroups).
     * Default: the `cgroup` processor's deleted_grace, as long as their path still resolves.
     */
    removed_cgroup_grace: duration().default(300_000),
  })
  .superRefine((c, ctx) => {
    if (c.series_idle_expiry > 0 && c.series_idle_expiry < 1000) {
      ctx.addIssue({
        code: 'custom',
        path: ['series_idle_expiry'],
        input: c.series_idle_expiry,
        message: `expected 0 (never) or a duration of at least 1s, got ${c.series_idle_expiry}ms`,
        params: { configCode: C.value },
      });
    }
    if ((c.metrics ?? c.tracing ?? c.logs) !== undefined && c.metrics_file !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['metrics_file'],
        input: c.metrics_file,
        message: 'give either metrics (inline) or metrics_file, not both',
        params: { configCode: C.value },
      });
    }
  });

export type EbpfReceiverConfig = z.infer<typeof configSchema>;

/** Default preference of hook sets: the most precise and cheapest first. */
export const defaultHookOrder: readonly string[] = [
  'fentry',
  'kprobe',
  'tp_btf',
  'raw_tp',
  'tracepoint',
  'uprobe',
  'usdt',
  'perf_event',
  'syscall',
  'iter',
];
