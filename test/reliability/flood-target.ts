/**
 * A Prometheus exporter of the agent over a synthetic source of SERIES series (default 10,000):
 * 100 counter families of SERIES/100 series with three labels, values changed on every pull
 * (as a receiver reading its maps would), the agent's own process metrics beside them, glibc
 * malloc tuned as the agent tunes it.
 * Prints `{"port":N}` once it listens; runs until killed. Used by scrape-flood.test.ts.
 * Arguments: max_requests (default 40).
 */
import { pino } from 'pino';
import { Subject } from 'rxjs';
import { configSchema } from '../../src/exporters/prometheus/config.ts';
import { PrometheusMetricsExporter } from '../../src/exporters/prometheus/exporter.ts';
import type { MetricBatch, RawFamily } from '../../src/pipeline/data.ts';
import { tuneMalloc } from '../../src/native/index.ts';
import { registerProcessMetrics } from '../../src/pipeline/process-metrics.ts';
import { SelfTelemetry } from '../../src/pipeline/telemetry.ts';

const SERIES = Number(process.env['SERIES'] ?? 10_000);
const FAMILIES = 100;
const maxRequests = Number(process.argv[2] ?? 40);

// As the agent runs once started (src/service.ts): large buffers mapped, so freed ones go back.
tuneMalloc('steady');
const logger = pino({ level: 'warn' }, pino.destination(2));
const telemetry = new SelfTelemetry();
registerProcessMetrics(telemetry);
const input = new Subject<MetricBatch>();
let pulls = 0;

function batch(): MetricBatch {
  const families: RawFamily[] = [];
  const per = Math.ceil(SERIES / FAMILIES);
  for (let f = 0; f < FAMILIES; f++) {
    const points = [];
    for (let i = 0; i < per; i++) {
      points.push({
        labels: [
          { name: 'cgroup', value: `/kubepods/burstable/pod${i % 37}/container${i}`, pending: [] },
          { name: 'comm', value: `worker-${i % 13}`, pending: [] },
          { name: 'cpu', value: String(i % 2), pending: [] },
        ],
        value: pulls * 1000 + i,
      });
    }
    families.push({
      name: `synthetic_events_${f}_total`,
      help: `Synthetic events, family ${f}`,
      kind: 'counter',
      startTimeMs: 1_700_000_000_000,
      points,
    });
  }
  return { source: 'ebpf/synthetic', config: 'synthetic', timeMs: Date.now(), families };
}

const exporter = new PrometheusMetricsExporter(
  configSchema.parse({ endpoint: '127.0.0.1:0', max_requests: maxRequests }),
  logger,
);
exporter.consume(input);
await exporter.start({
  logger,
  telemetry,
  pull: async () => {
    pulls++;
    input.next(batch());
    await Promise.resolve();
  },
  ready: () => true,
});
process.stdout.write(`${JSON.stringify({ port: exporter.address?.port })}\n`);
process.on('SIGTERM', () => {
  void exporter.shutdown().then(() => process.exit(0));
});
