/**
 * The scrape path in one process, stage by stage, on bench/bpf/scrape.bpf.c's maps filled
 * with n entries: the receiver's read + decode (MetricReader), the ksym processor,
 * assembly, Prometheus naming, and the text — through the fast path and through the
 * library's serializer (the oracle). Prints one JSON line: median ms of each stage.
 *
 *   npx node bench/scrape-stages.ts <ksym|multi> <n> <reps>
 */
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { emptyResource } from '@opentelemetry/resources';
import { pino } from 'pino';
import { of } from 'rxjs';
import { allDecoders } from '../src/decoders/index.ts';
import { KsymProcessor } from '../src/processors/ksym/processor.ts';
import { openObject } from '../src/native/index.ts';
import { assemble } from '../src/pipeline/assemble.ts';
import type { MetricBatch } from '../src/pipeline/data.ts';
import { toMetricData } from '../src/pipeline/otel.ts';
import { prometheusFamilies } from '../src/exporters/prometheus/names.ts';
import { ExpositionWriter } from '../src/exporters/prometheus/text.ts';
import { definitionsOf, MetricReader, type ReadStats } from '../src/receivers/ebpf/reader.ts';
import { resolveProgramSync } from '../src/receivers/ebpf/resolve.ts';
import { configSchema } from '../src/receivers/ebpf/config.ts';
import { benchPath, functionAddresses, median } from './lib.ts';

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
  let bytes = 0;
  for (let rep = 0; rep < reps; rep++) {
    let t0 = performance.now();
    const stats: ReadStats = { decodeErrors: 0, skipped: 0 };
    const raw = reader.read(stats);
    t.read?.push(performance.now() - t0);
    t0 = performance.now();
    let batch: MetricBatch | undefined;
    of<MetricBatch>({ source: 'ebpf/scrape', config: 'scrape', timeMs: Date.now(), families: [raw] })
      .pipe(ksym.operator)
      .subscribe((b) => (batch = b));
    t.process?.push(performance.now() - t0);
    t0 = performance.now();
    const assembled = assemble((batch as MetricBatch).families);
    t.assemble?.push(performance.now() - t0);
    t0 = performance.now();
    const families = prometheusFamilies(assembled, 'ebpf_exporter', () => undefined);
    t.names?.push(performance.now() - t0);
    t0 = performance.now();
    const text = writer.write(families);
    t.text?.push(performance.now() - t0);
    // The library is slow at 100k: once is enough there (it is the comparison, not the path).
    if (rep === 0 || n < 100_000) {
      t0 = performance.now();
      const slow = serializer.serialize({
        resource: emptyResource(),
        scopeMetrics: [{ scope: { name: 'ebpf-collector' }, metrics: toMetricData(families, Date.now()) }],
      });
      t.oracle?.push(performance.now() - t0);
      if (slow !== text) throw new Error('fast path and serializer differ');
    }
    bytes = text.length;
    if ((families[0]?.points.length ?? 0) !== n) throw new Error(`expected ${n} series`);
  }
  const out: Record<string, number> = { n, bytes };
  for (const [k, v] of Object.entries(t)) out[k] = median(v);
  console.log(JSON.stringify(out));
} finally {
  obj.close();
}
