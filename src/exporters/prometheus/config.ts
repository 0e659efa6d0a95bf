import { z } from 'zod';
import { hostPort } from '../../config/types.ts';

export const configSchema = z.strictObject({
  /** Listen address. */
  endpoint: hostPort().default({ host: '0.0.0.0', port: 9435 }),
  /** Prefix of every metric name (ebpf_exporter's); "" for none. */
  namespace: z
    .string()
    .regex(/^([a-zA-Z_][a-zA-Z0-9_]*)?$/, 'expected a metric name prefix like "ebpf_exporter"')
    .default('ebpf_exporter'),
  metrics_path: z
    .string()
    .regex(/^\/\S*$/, 'expected a path like "/metrics"')
    .default('/metrics'),
  /** Scrapes served at once; more get 503 (node_exporter's --web.max-requests). */
  max_requests: z.number().int().positive().default(40),
});

export type PrometheusExporterConfig = z.infer<typeof configSchema>;
