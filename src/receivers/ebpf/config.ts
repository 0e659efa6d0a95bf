import { z } from 'zod';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { duration } from '../../config/types.ts';
import { metricsSchema } from './metrics.ts';

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
    /** An ebpf_exporter-style `<name>.yaml`; default: bpf/<program>.yaml for a named program. */
    metrics_file: z.string().min(1).optional(),
    poll_interval: duration().default(15_000),
    /** External BTF for kernels without /sys/kernel/btf/vmlinux. */
    btf_path: z.string().min(1).optional(),
    /** Values for `const volatile` globals, set before load. */
    globals: z.record(z.string(), z.union([z.number(), z.boolean(), z.string()])).default({}),
    /** Kernel symbols whose addresses are set as `kaddr_<sym>` globals before load. */
    kaddrs: z.array(z.string()).default([]),
    /** Fail start when a program does not attach or no hook set works (ebpf_exporter's --config.strict). */
    strict: z.boolean().default(false),
    /** Hook sets in order of preference (program function names are `<set>__<name>`). */
    hooks: z.array(z.string().min(1)).optional(),
  })
  .superRefine((c, ctx) => {
    if (c.metrics !== undefined && c.metrics_file !== undefined) {
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
];
