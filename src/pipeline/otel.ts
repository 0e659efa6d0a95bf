import { ValueType, type HrTime } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  type DataPoint,
  type ExponentialHistogram,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import type { HistogramPoint, Labels, MetricFamily } from './data.ts';

export interface MetricDataOptions {
  /**
   * `exponential`: histograms whose buckets are powers of two go out as exponential
   * histograms at scale 0 (see toExponential); other layouts stay explicit.
   */
  readonly histograms?: 'explicit' | 'exponential';
  /** Rename attribute keys (e.g. Prometheus-style `k8s_pod_name` → semantic-convention `k8s.pod.name`). */
  readonly attributeNames?: Readonly<Record<string, string>>;
}

/**
 * Labels our processors (`container`, `k8s_attributes`) write in Prometheus form, and their
 * OpenTelemetry semantic-convention names. They describe what a point comes from (a pod, a
 * container), so the OTLP exporters move them from points to the resource under these names
 * (the table in src/exporters/otlp/README.md, "Pods and containers as resources").
 */
export const SEMANTIC_ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  container_id: 'container.id',
  container_runtime: 'container.runtime',
  k8s_pod_uid: 'k8s.pod.uid',
  k8s_pod_qos: 'k8s.pod.qos',
  k8s_pod_name: 'k8s.pod.name',
  k8s_namespace_name: 'k8s.namespace.name',
  k8s_node_name: 'k8s.node.name',
  k8s_container_name: 'k8s.container.name',
};

/**
 * Each series' attributes under a renaming, kept per labels object (assemble hands out the
 * same object for a live series on every collection): renamed once per series, not once per
 * export. By renaming table (they are configuration, so few).
 */
const renamed = new WeakMap<Readonly<Record<string, string>>, WeakMap<Labels, Labels>>();

function renamer(
  names: Readonly<Record<string, string>> | undefined,
): (labels: Readonly<Record<string, string>>) => Readonly<Record<string, string>> {
  if (!names || Object.keys(names).length === 0) return (labels) => labels;
  let kept = renamed.get(names);
  if (kept === undefined) renamed.set(names, (kept = new WeakMap()));
  const memo = kept;
  return (labels) => {
    let out = memo.get(labels);
    if (out === undefined) {
      out = rename(labels, names);
      memo.set(labels, out);
    }
    return out;
  };
}

function rename(labels: Labels, names: Readonly<Record<string, string>>): Labels {
  if (!Object.keys(labels).some((k) => Object.hasOwn(names, k))) return labels;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) out[Object.hasOwn(names, k) ? (names[k] as string) : k] = v;
  return out;
}

/** Assembled families → OpenTelemetry MetricData (cumulative, start = attach time or the last reset). */
export function toMetricData(
  families: readonly MetricFamily[],
  endTimeMs: number,
  options: MetricDataOptions = {},
): MetricData[] {
  const endTime = hrTime(endTimeMs);
  const attributesOf = renamer(options.attributeNames);
  return families.map((f): MetricData => {
    const familyStart = hrTime(f.startTimeMs);
    const startOf = (p: { startTimeMs?: number | undefined }): HrTime =>
      p.startTimeMs === undefined ? familyStart : hrTime(p.startTimeMs);
    if (f.kind === 'histogram') {
      const descriptor = { name: f.name, description: f.help, unit: '', valueType: ValueType.DOUBLE };
      if (options.histograms === 'exponential') {
        const exponential = f.points.map(toExponential);
        if (exponential.every((e) => e !== undefined)) {
          return {
            descriptor,
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.EXPONENTIAL_HISTOGRAM,
            dataPoints: f.points.map((p, i): DataPoint<ExponentialHistogram> => ({
              startTime: startOf(p),
              endTime,
              attributes: attributesOf(p.labels),
              value: exponential[i] as ExponentialHistogram,
            })),
          };
        }
      }
      const dataPoints: DataPoint<Histogram>[] = f.points.map((p) => ({
        startTime: startOf(p),
        endTime,
        attributes: attributesOf(p.labels),
        value: {
          buckets: { boundaries: [...p.boundaries], counts: [...p.counts] },
          count: p.count,
          sum: p.sum,
        },
      }));
      return {
        descriptor,
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints,
      };
    }
    let dataPoints: DataPoint<number>[];
    let integers = true;
    const c = f.columns;
    if (c !== undefined) {
      // A series table: its rows and values read directly, no points made first.
      dataPoints = new Array<DataPoint<number>>(c.rows.length);
      for (let i = 0; i < c.rows.length; i++) {
        const value = c.values[i] as number;
        const start = c.starts?.[i];
        if (integers && !Number.isSafeInteger(value)) integers = false;
        dataPoints[i] = {
          startTime: start === undefined || Number.isNaN(start) ? familyStart : hrTime(start),
          endTime,
          attributes: attributesOf(c.rows[i] as Labels),
          value,
        };
      }
    } else {
      dataPoints = f.points.map((p) => ({
        startTime: startOf(p),
        endTime,
        attributes: attributesOf(p.labels),
        value: p.value,
      }));
      integers = f.points.every((p) => Number.isSafeInteger(p.value));
    }
    const valueType = integers ? ValueType.INT : ValueType.DOUBLE;
    const descriptor = { name: f.name, description: f.help, unit: '', valueType };
    if (f.kind === 'gauge') {
      return {
        descriptor,
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.GAUGE,
        dataPoints,
      };
    }
    return {
      descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.SUM,
      isMonotonic: true,
      dataPoints,
    };
  });
}

/**
 * An explicit histogram with power-of-two buckets as an exponential histogram at scale 0,
 * or undefined when the layout does not map exactly.
 *
 * At scale 0, bucket index i covers (2^i, 2^(i+1)]. An explicit bucket with upper bound 2^k
 * covers (2^(k-1), 2^k] when the bucket before it has upper bound 2^(k-1), so it is index
 * k-1: the counts move unchanged, and every upper bound — what `le` and quantiles rest on —
 * stays exact. Boundaries must therefore be consecutive powers of two. Two cases for the
 * first bucket, which has no lower bound in explicit form:
 *
 * - upper bound 0 (`exp2zero`'s bucket 0): values ≤ 0, i.e. exactly 0 for kernel counts →
 *   `zeroCount` (exact).
 * - upper bound 2^k (`exp2` from `bucket_min`): it holds everything up to 2^k, e.g. 0 and 1
 *   for bound 1. Its count cannot be split, so it goes to index k-1 with its upper bound
 *   exact; values ≤ 2^(k-1) in it (only 0 for integer data at bucket_min 0) are reported one
 *   bucket up. It is not put in `zeroCount`: that would report the 1s as 0, and the JS OTLP
 *   serializer does not send `zero_threshold`, so a wider zero bucket cannot be declared.
 *
 * The +Inf bucket has no exponential counterpart: a point with a count there stays explicit
 * (assemble never fills it: values outside bucket_min..bucket_max are ignored).
 */
export function toExponential(p: HistogramPoint): ExponentialHistogram | undefined {
  const b = p.boundaries;
  const n = b.length;
  if (n === 0 || (p.counts[n] ?? 0) !== 0 || p.counts.length !== n + 1) return undefined;
  const zeroBucket = b[0] === 0;
  const first = zeroBucket ? 1 : 0; // index into b of the first power-of-two bound
  if (first >= n) return undefined;
  const k0 = exponentOf(b[first] as number);
  if (k0 === undefined) return undefined;
  for (let i = first + 1; i < n; i++) if (b[i] !== 2 ** (k0 + i - first)) return undefined;
  return {
    count: p.count,
    sum: p.sum,
    scale: 0,
    zeroCount: zeroBucket ? (p.counts[0] as number) : 0,
    positive: { offset: k0 - 1, bucketCounts: p.counts.slice(first, n) },
    negative: { offset: 0, bucketCounts: [] },
  };
}

/** k when x is exactly 2^k (k may be negative), else undefined. */
function exponentOf(x: number): number | undefined {
  if (!(x > 0) || !Number.isFinite(x)) return undefined;
  const k = Math.round(Math.log2(x));
  return 2 ** k === x ? k : undefined;
}

export function hrTime(ms: number): HrTime {
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}
