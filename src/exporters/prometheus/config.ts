import { z } from 'zod';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { quote } from '../../config/describe.ts';
import { hostPort } from '../../config/types.ts';
import { webConfigSchema } from './webconfig.ts';

/** Paths the agent serves itself on the exporter's endpoint, whatever metrics_path is. */
export const AGENT_PATHS: readonly string[] = ['/healthz', '/readyz', '/status'];

/** Connections held at once unless max_connections says otherwise. */
export const DEFAULT_MAX_CONNECTIONS = 1024;

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
    /**
     * Responses to the metrics path in progress at once (from arrival until sent); more get 503
     * at once (node_exporter's --web.max-requests).
     */
    max_requests: z.number().int().positive().max(10_000).default(40),
    /**
     * Connections held at once; at the cap a new one closes the least recently used idle one.
     * Never more than RLIMIT_NOFILE minus a reserve for the agent's own fds (connections.ts).
     */
    max_connections: z.number().int().positive().max(1_000_000).default(DEFAULT_MAX_CONNECTIONS),
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
    const taken = AGENT_PATHS.includes(c.metrics_path) || (c.maps_endpoint && c.metrics_path === '/maps');
    if (taken)
      ctx.addIssue({
        code: 'custom',
        path: ['metrics_path'],
        input: c.metrics_path,
        message: `${c.metrics_path} is served by the agent itself (so are ${[...AGENT_PATHS, ...(c.maps_endpoint ? ['/maps'] : [])].join(', ')}); choose another path, e.g. /metrics`,
        params: { configCode: C.value },
      });
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
