/**
 * The metric names the dashboards and alert rules use, from the places that define them:
 *   - the programs of pipelines/default.yaml and their metric definitions (bpf/<program>.yaml),
 *     exposed under the prometheus exporter's default namespace;
 *   - the agent's self-metrics, under the names the prometheus exporter gives them
 *     (src/exporters/prometheus/self-names.ts).
 * Nothing here is typed twice: a renamed metric changes the generated JSON, and the
 * `--check` test (test/monitoring) fails until it is regenerated.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { configSchema as prometheusConfig } from '../../src/exporters/prometheus/config.ts';
import { COLLECTOR_PREFIX } from '../../src/exporters/prometheus/self-names.ts';

export const repoRoot = join(import.meta.dirname, '..', '..');

/** The prometheus exporter's default namespace (`ebpf_exporter`), prefix of every program metric. */
export const NAMESPACE: string = prometheusConfig.parse({}).namespace;

/** A self-metric of the collector's own (`ebpf_collector_<name>`). */
export function collector(name: string): string {
  return `${COLLECTOR_PREFIX}_${name}`;
}

/** A self-metric ebpf_exporter also has, under its name (`ebpf_exporter_<name>`). */
export function upstream(name: string): string {
  return `${NAMESPACE}_${name}`;
}

/** Labels that carry a cgroup path: the kubernetes pipeline turns these into pod labels. */
export const CGROUP_LABELS: readonly string[] = ['cgroup', 'cgroup_path'];

/** Pod labels the k8s_attributes processor adds (src/processors/k8s_attributes/README.md). */
export const POD_LABELS = { namespace: 'k8s_namespace_name', pod: 'k8s_pod_name' } as const;

/**
 * The `k8s_attributes` processor's self-metrics (`ebpf_collector_k8s_*`): they exist only where a
 * pipeline runs that processor (pipelines/kubernetes.yaml), so a query or alert on them is checked
 * against the kubernetes pipeline (test/monitoring/kubernetes.e2e.test.ts), not the default one.
 */
export function clusterOnly(expr: string): boolean {
  return expr.includes(collector('k8s_'));
}

/** The node label a ServiceMonitor/PodMonitor of deploy/ adds as a target label. */
export const NODE_LABEL = 'node';

export type MetricKind = 'counter' | 'gauge' | 'histogram';

/** One metric of a program, as bpf/<program>.yaml defines it. */
export interface ProgramMetric {
  readonly program: string;
  readonly kind: MetricKind;
  /** The exposed name (with the namespace; histograms: without _bucket/_sum/_count). */
  readonly name: string;
  readonly help: string;
  /** Its labels, the histogram's `bucket` slot excluded. */
  readonly labels: readonly string[];
  /** The hook sets it exists under (`hooks:` in the YAML); undefined: every one. */
  readonly hooks: readonly string[] | undefined;
  /** Unit from the name's suffix: `s` for *_seconds, `bytes`, else none. */
  readonly unit: string;
}

interface YamlMetric {
  name: string;
  help: string;
  hooks?: string[];
  labels?: { name: string }[];
}

const KINDS: Record<string, MetricKind> = { counters: 'counter', gauges: 'gauge', histograms: 'histogram' };

/** The program names pipelines/default.yaml runs, in its order. */
export function defaultPrograms(): string[] {
  const pipeline = parse(readFileSync(join(repoRoot, 'pipelines', 'default.yaml'), 'utf8')) as {
    receivers: Record<string, { program: string }>;
  };
  return Object.values(pipeline.receivers).map((r) => r.program);
}

/**
 * The metrics of one program from bpf/<program>.yaml, in its order. A name repeated within a
 * section is one metric the receiver sums from several maps (e.g. counter slots and their hash
 * map): it is listed once.
 */
export function programMetrics(program: string): ProgramMetric[] {
  const file = parse(readFileSync(join(repoRoot, 'bpf', `${program}.yaml`), 'utf8')) as {
    metrics?: Record<string, YamlMetric[]>;
  };
  return Object.entries(file.metrics ?? {}).flatMap(([section, metrics]) => {
    const kind = KINDS[section];
    if (!kind) throw new Error(`bpf/${program}.yaml: metrics.${section}: not counters, gauges or histograms`);
    const once = metrics.filter((m, i) => metrics.findIndex((o) => o.name === m.name) === i);
    return once.map((m) => ({
      program,
      kind,
      name: `${NAMESPACE}_${m.name}`,
      help: m.help.trim(),
      labels: (m.labels ?? []).map((l) => l.name).filter((l) => !(kind === 'histogram' && l === 'bucket')),
      hooks: m.hooks,
      unit: m.name.endsWith('_seconds') ? 's' : m.name.endsWith('_bytes') ? 'bytes' : 'none',
    }));
  });
}

/**
 * Maps of at most this many entries are sized to a fixed key space (an enum like cachestat's 4
 * operations, histogram buckets × a small label): full by design, so fill is not watched.
 * Maps keyed by what the workload brings (cgroups, functions, ports, modules) have 1024 or more.
 */
export const FIXED_KEY_SPACE_MAX = 64;

/**
 * Fill (entries / max_entries) of the metric maps that can fill up: hash maps (an array's
 * every slot counts, so it is always "full") above FIXED_KEY_SPACE_MAX entries.
 */
export function mapFill(matchers: string, by: readonly string[]): string {
  const sel = matchers === '' ? '' : `${matchers}, `;
  return (
    `max by (${by.join(', ')}) (${collector('map_entries')}{${sel}type!~".*array"}` +
    ` / (${collector('map_capacity')}${matchers === '' ? '' : `{${matchers}}`} > ${FIXED_KEY_SPACE_MAX}))`
  );
}
