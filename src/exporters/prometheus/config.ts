import { z } from 'zod';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { quote } from '../../config/describe.ts';
import { hostPort } from '../../config/types.ts';
import { webConfigSchema } from './webconfig.ts';

export const configSchema = z
  .strictObject({
    /** Listen address. */
    endpoint: hostPort().default({ host: '0.0.0.0', port: 9435 }),
    /** Prefix of every metric name (ebpf_exporter's); "" for none. */
    namespace: z
      .string()
      .regex(/^([a-zA-Z_][a-zA-Z0-9_]*)?$/, {
        error: (iss) =>
          `expected a metric name prefix like "ebpf_exporter" (letters, digits and _, not starting with a digit), got ${quote(String(iss.input))}`,
      })
      .default('ebpf_exporter'),
    metrics_path: z
      .string()
      .regex(/^\/\S*$/, {
        error: (iss) =>
          `expected a path like "/metrics" (starting with /, no spaces), got ${quote(String(iss.input))}`,
      })
      .default('/metrics'),
    /** Scrapes served at once; more get 503 (node_exporter's --web.max-requests). */
    max_requests: z.number().int().positive().default(40),
    /**
     * Add each batch's resource attributes (set by the `resource` processor) as labels on every
     * series of that batch, names made Prometheus-safe (the collector's option of this name).
     */
    resource_to_telemetry_conversion: z.boolean().default(false),
    /**
     * Append `_total` to a counter whose name lacks it (the collector's option of this name; we
     * add no unit suffixes). ebpf_exporter writes a counter as named: its drop-in mode sets false.
     */
    add_metric_suffixes: z.boolean().default(true),
    /**
     * Prometheus's web configuration file (exporter-toolkit's format: TLS, client certificates,
     * bcrypt basic auth, headers), like `--web.config.file`; relative to this config file.
     */
    web_config_file: z.string().min(1, 'give a path or remove the key').optional(),
    /** The same settings inline (the file's keys under `web_config:`). */
    web_config: webConfigSchema.optional(),
    /**
     * Serve on this inherited listening socket instead of opening `endpoint` (systemd socket
     * activation: the first socket passed is fd 3). ebpf_exporter's `--web.listen-address=fd://N`.
     */
    listen_fd: z.number().int().nonnegative().optional(),
    /**
     * Serve `/maps`: every metric map of the receivers feeding this exporter as raw key bytes,
     * decoded labels and value (ebpf_exporter's `--debug`). For debugging: it reads every map.
     */
    maps_endpoint: z.boolean().default(false),
  })
  .superRefine((c, ctx) => {
    if (c.web_config_file !== undefined && c.web_config !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['web_config'],
        input: c.web_config,
        message: 'give web_config_file or web_config, not both',
        params: { configCode: C.value },
      });
  });

export type PrometheusExporterConfig = z.infer<typeof configSchema>;
