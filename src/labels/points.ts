import type { LabelSlot, MetricBatch, RawFamily, RawPoint } from '../pipeline/data.ts';
import { METRIC_NAME_LABEL, isMetricName } from './names.ts';

/**
 * The shared walk of the label processors (relabel, filter, attributes): each point
 * whose labels are all final is shown to `fn` as a mutable map of its labels plus
 * `__name__` (the metric name); the point is rebuilt from the map when `fn` keeps it.
 *
 * - A point with any label still pending decoders passes untouched (counted `skipped`).
 * - A histogram's last label is its bucket index (see assemble.ts): it is hidden from
 *   `fn` and put back last.
 * - `fn` throwing drops that point (counted in `errors`); nothing is thrown.
 * - Kept labels stay in their order; new labels follow in the order they were set.
 * - A changed `__name__` moves the point to a family of that name (same kind, help,
 *   layout), placed right after its original; an invalid or empty name is an error.
 * - A family whose points were all dropped (or renamed away) is removed; one that came
 *   without points stays.
 */
export interface PointCounts {
  skipped: number;
  errors: number;
  lastError?: string;
}

/** Return false to drop the point. `labels` may be changed in place. */
export type PointFn = (labels: Map<string, string>, family: RawFamily) => boolean;

export function newCounts(): PointCounts {
  return { skipped: 0, errors: 0 };
}

export function mapPoints(batch: MetricBatch, fn: PointFn, counts: PointCounts): MetricBatch {
  const families: RawFamily[] = [];
  for (const f of batch.families) families.push(...mapFamily(f, fn, counts));
  return { ...batch, families };
}

function mapFamily(f: RawFamily, fn: PointFn, counts: PointCounts): RawFamily[] {
  if (f.points.length === 0) return [f];
  const hasBucket = f.kind === 'histogram';
  const byName = new Map<string, RawPoint[]>([[f.name, []]]);
  for (const p of f.points) {
    if (p.labels.some((l) => l.pending.length > 0 || typeof l.value !== 'string')) {
      counts.skipped++;
      (byName.get(f.name) as RawPoint[]).push(p);
      continue;
    }
    try {
      const out = mapPoint(f, p, hasBucket, fn);
      if (!out) continue;
      let list = byName.get(out.name);
      if (!list) byName.set(out.name, (list = []));
      list.push(out.point);
    } catch (err) {
      counts.errors++;
      counts.lastError = err instanceof Error ? err.message : String(err);
    }
  }
  const out: RawFamily[] = [];
  for (const [name, points] of byName) {
    if (points.length === 0) continue;
    if (name === f.name) out.push(sameList(points, f.points) ? f : { ...f, points });
    else out.push({ ...f, name, points });
  }
  return out;
}

function sameList(a: readonly RawPoint[], b: readonly RawPoint[]): boolean {
  return a.length === b.length && a.every((p, i) => p === b[i]);
}

function mapPoint(
  f: RawFamily,
  p: RawPoint,
  hasBucket: boolean,
  fn: PointFn,
): { name: string; point: RawPoint } | undefined {
  const visible = hasBucket ? p.labels.slice(0, -1) : p.labels;
  const bucket = hasBucket ? p.labels[p.labels.length - 1] : undefined;
  const map = new Map<string, string>();
  map.set(METRIC_NAME_LABEL, f.name);
  for (const l of visible) map.set(l.name, l.value as string);
  if (!fn(map, f)) return undefined;

  const name = map.get(METRIC_NAME_LABEL) ?? '';
  if (!isMetricName(name)) throw new Error(`invalid metric name ${JSON.stringify(name)} after relabeling`);
  map.delete(METRIC_NAME_LABEL);

  if (unchanged(visible, map)) return { name, point: p };
  const byName = new Map(visible.map((l) => [l.name, l]));
  const labels: LabelSlot[] = [];
  for (const [k, v] of map) {
    const old = byName.get(k);
    labels.push(old && old.value === v ? old : { name: k, value: v, pending: [] });
  }
  if (bucket) labels.push(bucket);
  return { name, point: { labels, value: p.value } };
}

function unchanged(visible: readonly LabelSlot[], map: Map<string, string>): boolean {
  if (visible.length !== map.size) return false;
  let i = 0;
  for (const [k, v] of map) {
    const l = visible[i++] as LabelSlot;
    if (l.name !== k || l.value !== v) return false;
  }
  return true;
}
