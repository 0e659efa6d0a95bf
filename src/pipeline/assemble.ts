import type {
  HistogramPoint,
  HistogramSpec,
  LabelSlot,
  MetricFamily,
  RawFamily,
  RawPoint,
  ScalarPoint,
} from './data.ts';

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

function finalLabels(
  labels: readonly LabelSlot[],
  stats?: AssembleStats,
): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const l of labels) {
    if (l.pending.length > 0 || typeof l.value !== 'string') {
      if (stats) stats.undecoded++;
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

function assembleScalar(f: RawFamily, stats?: AssembleStats): MetricFamily {
  const byKey = new Map<string, { labels: Record<string, string>; value: number }>();
  for (const p of f.points) {
    const labels = finalLabels(p.labels, stats);
    if (!labels) continue;
    const key = keyOf(labels);
    const s = byKey.get(key);
    if (s) s.value += p.value;
    else byKey.set(key, { labels, value: p.value });
  }
  const points: ScalarPoint[] = [...byKey.values()];
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

function assembleHistogram(f: RawFamily, stats?: AssembleStats): MetricFamily {
  const spec = f.histogram as HistogramSpec;
  const { keys, bounds } = bucketBounds(spec);
  const indexOfKey = new Map(keys.map((k, i) => [k, i]));
  const sumAt = sumKey(spec);
  // rawSum: the sum slots' values added first and scaled once, as ebpf_exporter does (it sums
  // identical label sets before building the histogram), so a*m + b*m rounding never shows.
  const groups = new Map<string, { labels: Record<string, string>; counts: number[]; rawSum: number }>();
  for (const p of f.points) {
    const bucketSlot = p.labels[p.labels.length - 1];
    const labels = finalLabels(p.labels.slice(0, -1), stats);
    if (!labels || !bucketSlot) continue;
    const bucket = bucketIndex(bucketSlot, stats);
    if (bucket === undefined) continue;
    const key = keyOf(labels);
    let g = groups.get(key);
    if (!g) {
      g = { labels, counts: new Array<number>(bounds.length + 1).fill(0), rawSum: 0 };
      groups.set(key, g);
    }
    addBucket(g, bucket, p, indexOfKey, sumAt);
  }
  const points: HistogramPoint[] = [...groups.values()].map((g) => ({
    labels: g.labels,
    boundaries: bounds,
    counts: g.counts,
    sum: g.rawSum * spec.bucketMultiplier,
    count: g.counts.reduce((a, b) => a + b, 0),
  }));
  return { kind: 'histogram', name: f.name, help: f.help, startTimeMs: f.startTimeMs, points };
}

function bucketIndex(slot: LabelSlot, stats?: AssembleStats): number | undefined {
  if (slot.pending.length > 0 || typeof slot.value !== 'string' || !/^\d+$/.test(slot.value)) {
    if (stats) stats.badBuckets++;
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
