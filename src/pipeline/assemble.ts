import type {
  HistogramPoint,
  HistogramSpec,
  LabelSlot,
  Labels,
  MetricFamily,
  RawFamily,
  RawPoint,
} from './data.ts';
import { scalarColumnsFamily, type RawColumns } from './series.ts';

/**
 * Turn raw batches into exportable families: label sets that decode to the
 * same values are summed (never a duplicate series), histograms are built from
 * their bucket-index label with every bucket from min to max, cumulative in
 * Prometheus terms, `_sum` from the slot after the last bucket.
 */
export interface AssembleStats {
  /** Points dropped because a label was not fully decoded (no processor supplied a decoder). */
  undecoded: number;
  /** Histogram points whose bucket label is not an integer. */
  badBuckets: number;
}

export function assemble(families: readonly RawFamily[], stats?: AssembleStats): MetricFamily[] {
  return families.map((f) =>
    f.kind === 'histogram' ? assembleHistogram(f, stats) : assembleScalar(f, stats),
  );
}

function finalLabels(labels: readonly LabelSlot[]): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const l of labels) {
    if (l.pending.length > 0 || typeof l.value !== 'string') {
      return undefined;
    }
    out[l.name] = l.value;
  }
  return out;
}

function keyOf(labels: Record<string, string>): string {
  // Names and values: processors (relabel, attributes) may give points of one family different label sets.
  let key = '';
  for (const name of Object.keys(labels).sort()) key += `${name}\u0001${labels[name]}\u0000`;
  return key;
}

/**
 * A label set as it is exported: its labels object and key, one object per distinct key
 * (canonical), shared by every slot array that decodes to it. The reader and the
 * processors hand out the same immutable slot array for a map key on every read, so a live
 * series finds its Series through one WeakMap lookup (by array identity), and later stages
 * (the exporter's text cache) see the same labels object on every scrape. `mark` and `at`
 * are scratch of one family's assembly (which point of the output the series is), so that
 * summing identical label sets needs no Map per scrape.
 */
interface Series {
  readonly labels: Labels;
  readonly key: string;
  /** The assembly (a number unique per family per call) that last wrote this series. */
  mark: number;
  /** Its index in that assembly's points (or groups). */
  at: number;
}

/** Not fully decoded: a label still has pending decoders (or bytes). */
const UNDECODED = 0;
/** A histogram's bucket label is not an integer. */
const BAD_BUCKET = 1;

const scalarMemo = new WeakMap<readonly LabelSlot[], Series | typeof UNDECODED>();
const histogramMemo = new WeakMap<
  readonly LabelSlot[],
  { readonly series: Series; readonly bucket: number } | typeof UNDECODED | typeof BAD_BUCKET
>();
/**
 * Series by key, held weakly: a Series lives as long as a memoized slot array refers to
 * it, so two live arrays with the same labels always share one (and are summed); the
 * registry drops keys whose Series is gone.
 */
const canonical = new Map<string, WeakRef<Series>>();
const forget = new FinalizationRegistry<string>((key) => {
  if (canonical.get(key)?.deref() === undefined) canonical.delete(key);
});
let assemblies = 0;

function seriesOf(labels: Record<string, string>): Series {
  const key = keyOf(labels);
  const known = canonical.get(key)?.deref();
  if (known !== undefined) return known;
  const series: Series = { labels, key, mark: 0, at: 0 };
  canonical.set(key, new WeakRef(series));
  forget.register(series, key);
  return series;
}

function scalarSeriesOf(slots: readonly LabelSlot[], stats?: AssembleStats): Series | undefined {
  let s = scalarMemo.get(slots);
  if (s === undefined) {
    const labels = finalLabels(slots);
    s = labels ? seriesOf(labels) : UNDECODED;
    scalarMemo.set(slots, s);
  }
  if (s === UNDECODED) {
    if (stats) stats.undecoded++;
    return undefined;
  }
  return s;
}

function histogramSeriesOf(
  slots: readonly LabelSlot[],
  stats?: AssembleStats,
): { readonly series: Series; readonly bucket: number } | undefined {
  let h = histogramMemo.get(slots);
  if (h === undefined) {
    const bucketSlot = slots[slots.length - 1];
    if (!bucketSlot) return undefined;
    const labels = finalLabels(slots.slice(0, -1));
    const bucket = labels ? bucketIndex(bucketSlot) : undefined;
    h = !labels ? UNDECODED : bucket === undefined ? BAD_BUCKET : { series: seriesOf(labels), bucket };
    histogramMemo.set(slots, h);
  }
  if (h === UNDECODED || h === BAD_BUCKET) {
    if (stats) {
      if (h === UNDECODED) stats.undecoded++;
      else stats.badBuckets++;
    }
    return undefined;
  }
  return h;
}

/**
 * A series table's assembly (series.ts), by the identity of its rows: the exported label
 * sets and, per input row, the output row it adds into. Made once per table; per collection
 * only the values are summed (or passed on as they are when every row is its own series).
 */
interface ScalarPlan {
  readonly rows: readonly Labels[];
  /** Output row of each input row (-1: not fully decoded); undefined: row i is output row i. */
  readonly target: Int32Array | undefined;
  readonly undecoded: number;
}
const scalarPlans = new WeakMap<readonly (readonly LabelSlot[])[], ScalarPlan>();

function scalarPlanOf(rows: readonly (readonly LabelSlot[])[]): ScalarPlan {
  let plan = scalarPlans.get(rows);
  if (plan !== undefined) return plan;
  const mark = ++assemblies;
  const counts: AssembleStats = { undecoded: 0, badBuckets: 0 };
  const out: Labels[] = [];
  const target = new Int32Array(rows.length);
  let identity = true;
  for (let i = 0; i < rows.length; i++) {
    const s = scalarSeriesOf(rows[i] as readonly LabelSlot[], counts);
    if (!s) {
      target[i] = -1;
      identity = false;
      continue;
    }
    if (s.mark !== mark) {
      s.mark = mark;
      s.at = out.length;
      out.push(s.labels);
    }
    target[i] = s.at;
    if (s.at !== i) identity = false;
  }
  plan = { rows: out, target: identity ? undefined : target, undecoded: counts.undecoded };
  scalarPlans.set(rows, plan);
  return plan;
}

function assembleScalarColumns(f: RawFamily, c: RawColumns, stats?: AssembleStats): MetricFamily {
  const plan = scalarPlanOf(c.rows);
  if (stats) stats.undecoded += plan.undecoded;
  let values = c.values;
  const target = plan.target;
  if (target !== undefined) {
    values = new Float64Array(plan.rows.length);
    for (let i = 0; i < target.length; i++) {
      const t = target[i] as number;
      if (t >= 0) values[t] = (values[t] as number) + (c.values[i] as number);
    }
  }
  return scalarColumnsFamily(
    {
      kind: f.kind === 'gauge' ? 'gauge' : 'counter',
      name: f.name,
      help: f.help,
      startTimeMs: f.startTimeMs,
    },
    { rows: plan.rows, values },
  );
}

function assembleScalar(f: RawFamily, stats?: AssembleStats): MetricFamily {
  if (f.columns !== undefined) return assembleScalarColumns(f, f.columns, stats);
  const mark = ++assemblies;
  const points: { labels: Labels; value: number }[] = [];
  for (const p of f.points) {
    const s = scalarSeriesOf(p.labels, stats);
    if (!s) continue;
    if (s.mark === mark) (points[s.at] as { value: number }).value += p.value;
    else {
      s.mark = mark;
      s.at = points.length;
      points.push({ labels: s.labels, value: p.value });
    }
  }
  return {
    kind: f.kind === 'gauge' ? 'gauge' : 'counter',
    name: f.name,
    help: f.help,
    startTimeMs: f.startTimeMs,
    points,
  };
}

/** Upper bounds of buckets min..max (or of bucket_keys for fixed), as ebpf_exporter computes them. */
export function bucketBounds(spec: HistogramSpec): { keys: number[]; bounds: number[] } {
  const keys: number[] = [];
  const bounds: number[] = [];
  const m = spec.bucketMultiplier;
  if (spec.bucketType === 'fixed') {
    for (const k of spec.bucketKeys) {
      keys.push(k);
      bounds.push(k * m);
    }
    return { keys, bounds };
  }
  for (let i = spec.bucketMin; i <= spec.bucketMax; i++) {
    keys.push(i);
    switch (spec.bucketType) {
      case 'exp2':
        bounds.push(2 ** i * m);
        break;
      case 'exp2zero':
        bounds.push(i === 0 ? 0 : 2 ** (i - 1) * m);
        break;
      case 'linear':
        bounds.push(i * m);
        break;
    }
  }
  return { keys, bounds };
}

export function sumKey(spec: HistogramSpec): number {
  if (spec.bucketType === 'fixed') return (spec.bucketKeys[spec.bucketKeys.length - 1] ?? 0) + 1;
  return spec.bucketMax + 1;
}

/**
 * A histogram table's assembly, by the identity of its rows (and the layout it was made
 * for): the exported series and, per input row, the series it adds into and where (a
 * bucket's count, the sum, or nowhere). Made once per table; per collection only the values
 * are added up.
 */
interface HistogramPlan {
  readonly spec: HistogramSpec;
  readonly bounds: readonly number[];
  readonly rows: readonly Labels[];
  /** Output series of each input row (-1: not fully decoded, or a bad bucket label). */
  readonly group: Int32Array;
  /** Where each input row adds: a bucket's index in counts, SUM_SLOT, or OUTSIDE. */
  readonly slot: Int32Array;
  readonly undecoded: number;
  readonly badBuckets: number;
}
const SUM_SLOT = -2;
const OUTSIDE = -1;
const histogramPlans = new WeakMap<readonly (readonly LabelSlot[])[], HistogramPlan>();

function histogramPlanOf(rows: readonly (readonly LabelSlot[])[], spec: HistogramSpec): HistogramPlan {
  let plan = histogramPlans.get(rows);
  if (plan !== undefined && plan.spec === spec) return plan;
  const { keys, bounds } = bucketBounds(spec);
  const indexOfKey = new Map(keys.map((k, i) => [k, i]));
  const sumAt = sumKey(spec);
  const mark = ++assemblies;
  const counts: AssembleStats = { undecoded: 0, badBuckets: 0 };
  const out: Labels[] = [];
  const group = new Int32Array(rows.length);
  const slot = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const h = histogramSeriesOf(rows[i] as readonly LabelSlot[], counts);
    if (!h) {
      group[i] = -1;
      continue;
    }
    const s = h.series;
    if (s.mark !== mark) {
      s.mark = mark;
      s.at = out.length;
      out.push(s.labels);
    }
    group[i] = s.at;
    slot[i] = h.bucket === sumAt ? SUM_SLOT : (indexOfKey.get(h.bucket) ?? OUTSIDE);
  }
  plan = { spec, bounds, rows: out, group, slot, undecoded: counts.undecoded, badBuckets: counts.badBuckets };
  histogramPlans.set(rows, plan);
  return plan;
}

function assembleHistogramColumns(f: RawFamily, c: RawColumns, stats?: AssembleStats): MetricFamily {
  const spec = f.histogram as HistogramSpec;
  const plan = histogramPlanOf(c.rows, spec);
  if (stats) {
    stats.undecoded += plan.undecoded;
    stats.badBuckets += plan.badBuckets;
  }
  const width = plan.bounds.length + 1;
  const counts: number[][] = [];
  for (let g = 0; g < plan.rows.length; g++) counts.push(new Array<number>(width).fill(0));
  // Raw sums added first and scaled once, as on the points path (and in ebpf_exporter).
  const rawSums = new Float64Array(plan.rows.length);
  for (let i = 0; i < plan.group.length; i++) {
    const g = plan.group[i] as number;
    if (g < 0) continue;
    const at = plan.slot[i] as number;
    const v = c.values[i] as number;
    if (at === SUM_SLOT) rawSums[g] = (rawSums[g] as number) + v;
    else if (at !== OUTSIDE) {
      const row = counts[g] as number[];
      row[at] = (row[at] as number) + v;
    }
  }
  const points: HistogramPoint[] = [];
  for (let g = 0; g < plan.rows.length; g++) {
    const row = counts[g] as number[];
    let count = 0;
    for (const n of row) count += n;
    points.push({
      labels: plan.rows[g] as Labels,
      boundaries: plan.bounds,
      counts: row,
      sum: (rawSums[g] as number) * spec.bucketMultiplier,
      count,
    });
  }
  return { kind: 'histogram', name: f.name, help: f.help, startTimeMs: f.startTimeMs, points };
}

function assembleHistogram(f: RawFamily, stats?: AssembleStats): MetricFamily {
  if (f.columns !== undefined) return assembleHistogramColumns(f, f.columns, stats);
  const spec = f.histogram as HistogramSpec;
  const { keys, bounds } = bucketBounds(spec);
  const indexOfKey = new Map(keys.map((k, i) => [k, i]));
  const sumAt = sumKey(spec);
  // rawSum: the sum slots' values added first and scaled once, as ebpf_exporter does (it sums
  // identical label sets before building the histogram), so a*m + b*m rounding never shows.
  const mark = ++assemblies;
  const groups: { labels: Labels; counts: number[]; rawSum: number }[] = [];
  for (const p of f.points) {
    const h = histogramSeriesOf(p.labels, stats);
    if (!h) continue;
    const s = h.series;
    let g = groups[s.at];
    if (s.mark !== mark || g === undefined) {
      s.mark = mark;
      s.at = groups.length;
      g = { labels: s.labels, counts: new Array<number>(bounds.length + 1).fill(0), rawSum: 0 };
      groups.push(g);
    }
    addBucket(g, h.bucket, p, indexOfKey, sumAt);
  }
  const points: HistogramPoint[] = groups.map((g) => ({
    labels: g.labels,
    boundaries: bounds,
    counts: g.counts,
    sum: g.rawSum * spec.bucketMultiplier,
    count: g.counts.reduce((a, b) => a + b, 0),
  }));
  return { kind: 'histogram', name: f.name, help: f.help, startTimeMs: f.startTimeMs, points };
}

function bucketIndex(slot: LabelSlot): number | undefined {
  if (slot.pending.length > 0 || typeof slot.value !== 'string' || !/^\d+$/.test(slot.value)) {
    return undefined;
  }
  return Number(slot.value);
}

function addBucket(
  g: { counts: number[]; rawSum: number },
  bucket: number,
  p: RawPoint,
  indexOfKey: ReadonlyMap<number, number>,
  sumAt: number,
): void {
  if (bucket === sumAt) {
    g.rawSum += p.value;
    return;
  }
  const i = indexOfKey.get(bucket);
  if (i === undefined) return; // outside the configured range: ignored, as ebpf_exporter does
  g.counts[i] = (g.counts[i] as number) + p.value;
}
