/**
 * `service.telemetry`: the agent's own logs and metrics, in the collector's shape.
 *
 *   telemetry:
 *     logs:
 *       level: debug | info | warn | error        default info
 *       encoding: json | console                   default json
 *     metrics:
 *       level: none | basic | normal | detailed    default normal (see src/pipeline/telemetry-levels.ts)
 *       readers:                                   the collector's current form (otelconf)
 *         - pull:
 *             exporter:
 *               prometheus:                        or `prometheus/development`
 *                 host: 0.0.0.0                    default localhost (the collector's default)
 *                 port: 8888                       default 8888
 *       address: 0.0.0.0:8888                      the collector's older form: one pull reader
 *
 * With a reader (or `address`) the self-metrics are served on their own endpoint and no longer
 * beside the pipeline data; without one they stay on each prometheus exporter's metrics path.
 * What the collector accepts and this agent does not (periodic OTLP readers, views, the
 * prometheus exporter's naming options) is a positioned error, never silently ignored.
 */
import { z } from 'zod';
import { CONFIG_ERROR_CODES as C } from './codes.ts';
import { hostPort, type HostPort } from './primitives.ts';
import { emptyAsMap } from './types.ts';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_ENCODINGS = ['json', 'console'] as const;

export const METRICS_LEVELS = ['none', 'basic', 'normal', 'detailed'] as const;
export type MetricsLevel = (typeof METRICS_LEVELS)[number];

/** The collector's default self-metrics port. */
export const DEFAULT_TELEMETRY_PORT = 8888;

const unsupported = (what: string) =>
  z.unknown().superRefine((v, ctx) => {
    ctx.addIssue({ code: 'custom', message: what, input: v, params: { configCode: C.value } });
  });

const pullPrometheus = emptyAsMap(
  z.strictObject({
    host: z.string().default('localhost'),
    port: z.number().int().min(0).max(65535).default(DEFAULT_TELEMETRY_PORT),
  }),
);

const pullReader = z
  .strictObject({
    exporter: z
      .strictObject({
        prometheus: pullPrometheus.optional(),
        'prometheus/development': pullPrometheus.optional(),
      })
      .superRefine((e, ctx) => {
        const n = (e.prometheus ? 1 : 0) + (e['prometheus/development'] ? 1 : 0);
        if (n !== 1)
          ctx.addIssue({
            code: 'custom',
            message: 'a pull reader needs exactly one exporter: prometheus (or prometheus/development)',
            input: e,
            params: { configCode: C.value },
          });
      }),
  })
  .transform((r): HostPort => {
    const p = r.exporter.prometheus ?? r.exporter['prometheus/development'];
    return { host: p?.host ?? 'localhost', port: p?.port ?? DEFAULT_TELEMETRY_PORT };
  });

const reader = z
  .strictObject({
    pull: pullReader.optional(),
    periodic: unsupported(
      'periodic readers (pushing the self-metrics over OTLP) are not supported; use a pull reader, or an otlp exporter in a pipeline',
    ).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.pull === undefined && r.periodic === undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'a reader needs pull: { exporter: { prometheus: { host, port } } }',
        input: r,
        params: { configCode: C.value },
      });
  })
  .transform((r) => r.pull as HostPort);

export const metricsTelemetrySchema = emptyAsMap(
  z
    .strictObject({
      level: z.enum(METRICS_LEVELS).default('normal'),
      /** The collector's older form (before readers); the same as one pull reader. */
      address: hostPort().optional(),
      readers: z.array(reader).optional(),
      views: unsupported('views are not supported; the level selects the self-metrics').optional(),
    })
    .superRefine((m, ctx) => {
      if (m.address !== undefined && m.readers !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['address'],
          message: 'give address or readers, not both (address is the older form of one pull reader)',
          input: m.address,
          params: { configCode: C.value },
        });
    })
    .transform(({ level, address, readers }) => ({
      level,
      /** Where the self-metrics are served on their own; empty: on the prometheus exporters' path. */
      endpoints: address ? [address] : (readers ?? []),
    })),
);

export const telemetrySchema = emptyAsMap(
  z.strictObject({
    logs: emptyAsMap(
      z.strictObject({
        level: z.enum(LOG_LEVELS).default('info'),
        encoding: z.enum(LOG_ENCODINGS).default('json'),
      }),
    ),
    metrics: metricsTelemetrySchema,
  }),
);

export type TelemetryConfig = z.output<typeof telemetrySchema>;
export type MetricsTelemetryConfig = TelemetryConfig['metrics'];

/** `service.telemetry` as a user writes it (print-config): endpoints as the collector's readers. */
export function encodeTelemetry(t: TelemetryConfig): Record<string, unknown> {
  const { level, endpoints } = t.metrics;
  const readers = endpoints.map(({ host, port }) => ({ pull: { exporter: { prometheus: { host, port } } } }));
  return { logs: t.logs, metrics: readers.length > 0 ? { level, readers } : { level } };
}
