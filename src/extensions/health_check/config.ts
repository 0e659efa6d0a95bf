import { z } from 'zod';
import { quote } from '../../config/describe.ts';
import { hostPort } from '../../config/types.ts';
import { notSupported } from '../../exporters/otlp/config.ts';

/**
 * extension `health_check`: the OpenTelemetry Collector's health check endpoint, with its
 * keys and defaults, so probes written for otelcol work unchanged. Defaults live here.
 */
export const configSchema = z.strictObject({
  /** Listen address (the collector's default). */
  endpoint: hostPort().default({ host: '0.0.0.0', port: 13133 }),
  /** The path answered; any other is 404. */
  path: z
    .string()
    .regex(/^\/\S*$/, {
      error: (iss) =>
        `expected a path like "/" or "/health/status" (starting with /, no spaces), got ${quote(String(iss.input))}`,
    })
    .default('/'),
  /** Static bodies instead of the status JSON (the collector's `response_body`). */
  response_body: z
    .strictObject({
      healthy: z.string().optional(),
      unhealthy: z.string().optional(),
    })
    .optional(),
  /** The collector's exporter-failure check: here readiness always covers every component. */
  check_collector_pipeline: notSupported(
    'readiness always covers every component (required programs attached, pipelines started); exporter failures are listed in the body without making the agent unready',
  ),
  /** The collector's deprecated `port`. */
  port: notSupported('give the port in endpoint, e.g. "0.0.0.0:13133"'),
});

export type HealthCheckConfig = z.infer<typeof configSchema>;
