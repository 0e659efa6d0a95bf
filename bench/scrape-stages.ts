/**
 * The scrape path in one process, stage by stage, on bench/bpf/scrape.bpf.c's maps filled
 * with n entries: the receiver's read + decode (MetricReader), the ksym processor,
 * assembly, Prometheus naming, and the text — through the fast path and through the
 * library's serializer (the oracle). Prints one JSON line: median ms of each stage, the
 * share of the path's time spent in garbage collection (`gcShare`, with the agent's V8 young
 * generation setting) and, with `--expose-gc`, the heap bytes one unchanged collection
 * allocates per series (`allocPerSeries`: used heap before and after repeated collections
 * with no collection of garbage in between — run it with a young generation large enough,
 * e.g. `--min-semi-space-size=64 --max-semi-space-size=64`; NaN when one ran anyway).
 *
 *   npx node [--expose-gc …] bench/scrape-stages.ts <ksym|multi> <n> <reps>
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { emptyResource } from '@opentelemetry/resources';
import { pino } from 'pino';
import { of } from 'rxjs';
import { allDecoders } from '../src/decoders/index.ts';
import { KsymProcessor } from '../src/processors/ksym/processor.ts';
import { openObject } from '../src/native/index.ts';
import { assemble } from '../src/pipeline/assemble.ts';
import type { MetricBatch, MetricFamily } from '../src/pipeline/data.ts';
import { toMetricData } from '../src/pipeline/otel.ts';
import { pointCount } from '../src/pipeline/series.ts';
import { tuneYoungGeneration } from '../src/young-generation.ts';
import { prometheusFamilies } from '../src/exporters/prometheus/names.ts';
import { ExpositionWriter } from '../src/exporters/prometheus/text.ts';
import { definitionsOf } from '../src/receivers/ebpf/definitions.ts';
import { MetricReader, type ReadStats } from '../src/receivers/ebpf/reader.ts';
import { resolveProgramSync } from '../src/receivers/ebpf/resolve.ts';
import { configSchema } from '../src/receivers/ebpf/config.ts';
import { benchPath, functionAddresses, median } from './lib.ts';

// The agent's young-generation setting, for a GC share like the agent's.
tuneYoungGeneration();
/** Garbage collections seen: start (performance.now() clock) and duration, ms. */
const gcs: { start: number; ms: number }[] = [];
let gcCount = 0;
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcs.push({ start: e.startTime, ms: e.duration });
    gcCount++;
  }
});
/** GC time of collections that began between t0 and t1. */
const gcBetween = (t0: number, t1: number): number =>
  gcs.reduce((sum, g) => (g.start >= t0 && g.start <= t1 ? sum + g.ms : sum), 0);
gcObserver.observe({ entryTypes: ['gc'] });
/** Let the observer's queued entries arrive. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

const [kind = 'ksym', nArg = '10000', repsArg = '7'] = process.argv.slice(2);
const n = Number(nArg);
const reps = Number(repsArg);
const mapName = kind === 'ksym' ? 'scrape_ksym' : 'scrape_multi';
const metric = kind === 'ksym' ? 'bench_ksym_total' : 'bench_multi_total';

const config = configSchema.parse({
  program: benchPath('build/bench/scrape.bpf.o'),
  metrics_file: benchPath('bench/bpf/scrape.yaml'),
});
const { program } = resolveProgramSync(config, process.cwd());
if (!program) throw new Error('cannot resolve bench/bpf/scrape.yaml');
const obj = openObject(program.objectPath).load();
try {
  const map = obj.map(mapName);
  const keySize = map.info.keySize;
  const keys = Buffer.alloc(keySize * n);
  const values = Buffer.alloc(8 * n);
  const addrs = kind === 'ksym' ? functionAddresses(n) : [];
  for (let i = 0; i < n; i++) {
    if (kind === 'ksym') keys.writeBigUInt64LE(addrs[i] as bigint, 8 * i);
    else {
      keys.writeUInt32LE(i % 1000, 16 * i);
      keys.writeUInt32LE(Math.floor(i / 1000), 16 * i + 4);
      keys.writeBigUInt64LE(BigInt(i) * 2654435761n, 16 * i + 8);
    }
    values.writeBigUInt64LE(BigInt(i * 7 + 1), 8 * i);
  }
  if (map.updateBatch(keys, values) !== n) throw new Error('fill failed');

  const registry = allDecoders();
  registry.delete('ksym');
  registry.delete('cgroup');
  const def = definitionsOf(program.metrics).find((d) => d.name === metric);
  if (!def) throw new Error(`no ${metric}`);
  const reader = new MetricReader(def, map, registry, Date.now());
  const logger = pino({ level: 'silent' });
  const ksym = new KsymProcessor({ refresh_interval: 10_000 } as never, logger);
  const writer = new ExpositionWriter();
  const serializer = new PrometheusSerializer(undefined, false, undefined, true, true);
  const t: Record<string, number[]> = {
    read: [],
    process: [],
    assemble: [],
    names: [],
    text: [],
    oracle: [],
  };
  /** One collection through the path, each stage timed into `t` when given. */
  const collect = (t: Record<string, number[]> | undefined): { text: string; families: MetricFamily[] } => {
    let t0 = performance.now();
    const stats: ReadStats = { decodeErrors: 0, skipped: 0 };
    const raw = reader.read(stats);
    t?.read?.push(performance.now() - t0);
    t0 = performance.now();
    let batch: MetricBatch | undefined;
    of<MetricBatch>({ source: 'ebpf/scrape', config: 'scrape', timeMs: Date.now(), families: [raw] })
      .pipe(ksym.operator)
      .subscribe((b) => (batch = b));
    t?.process?.push(performance.now() - t0);
    t0 = performance.now();
    const assembled = assemble((batch as MetricBatch).families);
    t?.assemble?.push(performance.now() - t0);
    t0 = performance.now();
    // As the exporter calls it without resource labels.
    const families = prometheusFamilies(assembled, 'ebpf_exporter', () => undefined, {
      distinctWithinFamily: true,
    });
    t?.names?.push(performance.now() - t0);
    t0 = performance.now();
    const text = writer.write(families);
    t?.text?.push(performance.now() - t0);
    return { text, families };
  };
  // Warm up as a long-running agent is: the first collection decodes every key (and loads
  // kallsyms, which makes the ksym processor derive its table again on the next one).
  collect(undefined);
  collect(undefined);
  let bytes = 0;
  let pathMs = 0;
  let pathGcMs = 0;
  for (let rep = 0; rep < reps; rep++) {
    await settle();
    const t0 = performance.now();
    const { text, families } = collect(t);
    const t1 = performance.now();
    pathMs += t1 - t0;
    await settle();
    pathGcMs += gcBetween(t0, t1);
    // The library is slow at 100k: once is enough there (it is the comparison, not the path).
    if (rep === 0 || n < 100_000) {
      const t1 = performance.now();
      const slow = serializer.serialize({
        resource: emptyResource(),
        scopeMetrics: [{ scope: { name: 'ebpf-collector' }, metrics: toMetricData(families, Date.now()) }],
      });
      t.oracle?.push(performance.now() - t1);
      if (slow !== text) throw new Error('fast path and serializer differ');
    }
    bytes = text.length;
    if (pointCount(families[0]) !== n) throw new Error(`expected ${n} series`);
  }
  // Heap bytes of an unchanged collection: only with --expose-gc (a clean heap to start from).
  let allocPerSeries = NaN;
  const forceGc = (globalThis as { gc?: () => void }).gc;
  if (forceGc) {
    const rounds = n >= 100_000 ? 1 : 5;
    forceGc();
    await settle();
    const count0 = gcCount;
    const used0 = getHeapStatistics().used_heap_size;
    const keep: string[] = [];
    for (let r = 0; r < rounds; r++) keep.push(collect(undefined).text);
    const used1 = getHeapStatistics().used_heap_size;
    await settle();
    if (gcCount === count0) allocPerSeries = (used1 - used0) / rounds / n;
    keep.length = 0;
  }
  const out: Record<string, number> = { n, bytes, gcShare: pathGcMs / pathMs, allocPerSeries };
  for (const [k, v] of Object.entries(t)) out[k] = median(v);
  gcObserver.disconnect();
  console.log(JSON.stringify(out));
} finally {
  obj.close();
}
