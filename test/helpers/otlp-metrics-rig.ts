/**
 * The metrics half of the otlp exporter under test: families with known values, a rig that
 * starts the exporter against a real receiver's endpoint and reads its self-metrics, and the
 * accounting check every metrics test can make (points collected = sent + dropped; sent = what
 * the receivers accepted). Used by src/exporters/otlp/exporter*.test.ts.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { pino } from 'pino';
import { Subject } from 'rxjs';
import type { Host } from '../../src/pipeline/component.ts';
import type { MetricBatch, RawFamily, RawPoint } from '../../src/pipeline/data.ts';
import { SelfTelemetry } from '../../src/pipeline/telemetry.ts';
import { configSchema, type OtlpExporterConfig } from '../../src/exporters/otlp/config.ts';
import { OtlpMetricsExporter } from '../../src/exporters/otlp/exporter.ts';
import { channelCredentials } from '../../src/exporters/otlp/tls.ts';
import { DROP_REASONS } from '../../src/exporters/otlp/sender.ts';
import { grpcWire } from '../../src/exporters/otlp/transport.ts';
import { metricsOf, type ReceivedExport } from './otlp-decoded.ts';
import { pointsOf, type OtlpMetric, type OtlpReceiver } from './otlp-receiver.ts';

export const UNAVAILABLE = 14;
export const INVALID_ARGUMENT = 3;

export const final = (labels: Record<string, string>, value: number): RawPoint => ({
  labels: Object.entries(labels).map(([name, v]) => ({ name, value: v, pending: [] })),
  value,
});

// Attach times with sub-second parts, to see the nanoseconds arrive exactly.
export const COUNTER_START_MS = 1_700_000_000_123;
export const HIST_START_MS = 1_700_000_100_456;

export function counterFamily(value = 5): RawFamily {
  return {
    name: 'timer_starts_total',
    help: 'Timers started',
    kind: 'counter',
    startTimeMs: COUNTER_START_MS,
    points: [
      final({ function: 'tick_sched_timer' }, value),
      // Larger than 32 bits: must travel as an exact int64.
      final({ function: 'hrtimer_wakeup' }, 2 ** 40 + 7),
      final({ function: 'tick_sched_timer' }, 1), // same label set: summed
    ],
  };
}

/** exp2 buckets 0..3 → bounds 1, 2, 4, 8 (+Inf); bucket key 4 carries the sum. */
export function histogramFamily(): RawFamily {
  const b = (disk: string, bucket: number, value: number): RawPoint =>
    final({ disk, bucket: String(bucket) }, value);
  return {
    name: 'bio_latency_seconds',
    help: 'Block I/O latency',
    kind: 'histogram',
    histogram: { bucketType: 'exp2', bucketMin: 0, bucketMax: 3, bucketMultiplier: 1, bucketKeys: [] },
    startTimeMs: HIST_START_MS,
    points: [b('sda', 0, 1), b('sda', 1, 2), b('sda', 3, 4), b('sda', 4, 50)],
  };
}

export function batch(families: RawFamily[], source = 'ebpf/timers'): MetricBatch {
  return { source, config: 'timers', timeMs: Date.now(), families };
}

export interface TestHost extends Host {
  pulls: number;
  pull: () => Promise<void>;
}

export interface Rig {
  exporter: OtlpMetricsExporter;
  host: TestHost;
  telemetry: SelfTelemetry;
  input: Subject<MetricBatch>;
  count(result: 'success' | 'retry' | 'failure'): number | undefined;
  /** Data points dropped, for one reason or all. */
  dropped(reason?: string): number;
  /**
   * Every data point collected was sent or dropped (nothing in flight: after idle), and the
   * points sent are those the receivers accepted.
   */
  accounted(...receivers: OtlpReceiver[]): void;
}

export const logger = pino({ level: 'silent' });

/** A rig for an exporter at `http://endpoint` (plain gRPC) with fast retries; `extra` overrides the config. */
export function rig(endpoint: string, extra: Record<string, unknown> = {}, id = 'otlp'): Rig {
  return rigOf(
    configSchema.parse({
      endpoint: `http://${endpoint}`,
      interval: '1h', // tests drive collections with tick() unless they test the timer
      timeout: '2s',
      retry_on_failure: { initial_interval: '20ms', max_interval: '50ms' },
      ...extra,
    }),
    id,
  );
}

/** A rig for an exporter with this config; TLS files named in it are read from `configDir`. */
export function rigOf(config: OtlpExporterConfig, id = 'otlp', configDir = '.'): Rig {
  const exporter = new OtlpMetricsExporter(
    id,
    config,
    grpcWire(config, channelCredentials(config, configDir, 'exporters.otlp')),
    logger,
  );
  const telemetry = new SelfTelemetry();
  const host: TestHost = {
    logger,
    telemetry,
    pulls: 0,
    pull: async () => {
      host.pulls++;
    },
    ready: () => true,
  };
  const input = new Subject<MetricBatch>();
  exporter.consume(input);
  const dropped = (reason?: string): number =>
    (reason ? [reason] : DROP_REASONS).reduce(
      (n, why) =>
        n +
        (telemetry.counter('exporter_dropped_metric_points_total', '').value({ exporter: id, reason: why }) ??
          0),
      0,
    );
  return {
    exporter,
    host,
    telemetry,
    input,
    count: (result) =>
      telemetry.counter('otlp_requests_total', '').value({ exporter: id, signal: 'metrics', result }),
    dropped,
    accounted(...receivers) {
      const sent = telemetry.counter('exporter_sent_metric_points_total', '').value({ exporter: id }) ?? 0;
      assert.equal(exporter.produced, sent + dropped(), 'points collected = sent + dropped');
      const delivered = receivers
        .flatMap((rc) => rc.calls)
        .filter((c) => c.answered === 0)
        .reduce((n, c) => n + pointsOf(c), 0);
      assert.equal(sent, delivered, 'points counted as sent = points the receivers accepted');
    },
  };
}

export function byName(metrics: OtlpMetric[], name: string): OtlpMetric {
  const m = metrics.find((x) => x.name === name);
  assert.ok(m, `metric ${name} not in ${metrics.map((x) => x.name).join(', ')}`);
  return m;
}

/** The first data point of counterFamily's metric in a call, as its exact int64 text. */
export function counterValue(call: ReceivedExport | undefined): string | undefined {
  assert.ok(call, 'no such call');
  return byName(metricsOf(call), 'timer_starts_total').sum?.dataPoints?.[0]?.asInt;
}

export const nanos = (ms: number): string => (BigInt(ms) * 1_000_000n).toString();

/** A port nothing listens on. */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
