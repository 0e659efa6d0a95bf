/**
 * A Prometheus exporter of the agent over a synthetic source of SERIES series (default 10,000):
 * 100 counter families of SERIES/100 series with three labels, values changed on every pull
 * (as a receiver reading its maps would), the agent's own process metrics beside them, glibc
 * malloc tuned as the agent tunes it.
 * Prints `{"port":N}` once it listens; runs until killed. Used by scrape-flood.test.ts.
 * Arguments: max_requests (default 40). Each line on stdin gets one line on stdout: the
 * memory split (MiB; after a full GC when run with --expose-gc).
 */
import type { MetricBatch, RawFamily } from '../../src/pipeline/data.ts';
import { tuneYoungGeneration } from '../../src/young-generation.ts';

// As bin/ebpf-collector.js starts the agent: the young generation tuned before anything loads,
// then the modules.
tuneYoungGeneration();
const { createInterface } = await import('node:readline');
const { pino } = await import('pino');
const { Subject } = await import('rxjs');
const { configSchema } = await import('../../src/exporters/prometheus/config.ts');
const { PrometheusMetricsExporter } = await import('../../src/exporters/prometheus/exporter.ts');
const { settleMemory } = await import('../../src/memory.ts');
const { memorySplit } = await import('./memory-split.ts');
const { registerProcessMetrics } = await import('../../src/pipeline/process-metrics.ts');
const { SelfTelemetry } = await import('../../src/pipeline/telemetry.ts');
const SERIES = Number(process.env['SERIES'] ?? 10_000);
const FAMILIES = 100;
const maxRequests = Number(process.argv[2] ?? 40);

// As the agent runs once started (src/service.ts, src/memory.ts): large buffers mapped, so
// freed ones go back, and the free heap trimmed every TRIM_INTERVAL_MS.
settleMemory();
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
createInterface({ input: process.stdin }).on('line', () => {
  (globalThis as { gc?: () => void }).gc?.();
  const split = memorySplit();
  process.stdout.write(`${JSON.stringify(split)}\n`);
});
process.on('SIGTERM', () => {
  void exporter.shutdown().then(() => process.exit(0));
});
