import type { LabelSlot, MetricBatch, RawFamily, RawPoint } from '../pipeline/data.ts';
import { METRIC_NAME_LABEL, isMetricName } from './names.ts';
import type { LabelTables } from './tables.ts';

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

/**
 * `tables` (the operator's, made once with the same `fn`): series tables (src/pipeline/README.md)
 * go through it, each row once, and come out as tables; without it they go through their points.
 */
export function mapPoints(
  batch: MetricBatch,
  fn: PointFn,
  counts: PointCounts,
  tables?: LabelTables,
): MetricBatch {
  const families: RawFamily[] = [];
  for (const f of batch.families) {
    if (tables !== undefined && f.columns !== undefined)
      families.push(...tables.family(f, f.columns, counts));
    else families.push(...mapFamily(f, fn, counts));
  }
  return { ...batch, families };
}

function mapFamily(f: RawFamily, fn: PointFn, counts: PointCounts): RawFamily[] {
  if (f.points.length === 0) return [f];
  const hasBucket = f.kind === 'histogram';
  const byName = new Map<string, RawPoint[]>([[f.name, []]]);
  for (const p of f.points) {
    if (!isFinal(p.labels)) {
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
  const out = mapLabels(f, p.labels, hasBucket, fn);
  if (!out) return undefined;
  return { name: out.name, point: out.labels === p.labels ? p : { labels: out.labels, value: p.value } };
}

/**
 * One label set (all final) through `fn`: its output family name and labels (`labels` itself
 * when unchanged), or undefined when dropped. Throws on an invalid name after `fn`.
 */
export function mapLabels(
  f: RawFamily,
  labels: readonly LabelSlot[],
  hasBucket: boolean,
  fn: PointFn,
): { name: string; labels: readonly LabelSlot[] } | undefined {
  const visible = hasBucket ? labels.slice(0, -1) : labels;
  const bucket = hasBucket ? labels[labels.length - 1] : undefined;
  const map = new Map<string, string>();
  map.set(METRIC_NAME_LABEL, f.name);
  for (const l of visible) map.set(l.name, l.value as string);
  if (!fn(map, f)) return undefined;

  const name = map.get(METRIC_NAME_LABEL) ?? '';
  if (!isMetricName(name)) throw new Error(`invalid metric name ${JSON.stringify(name)} after relabeling`);
  map.delete(METRIC_NAME_LABEL);

  if (unchanged(visible, map)) return { name, labels };
  const byName = new Map(visible.map((l) => [l.name, l]));
  const out: LabelSlot[] = [];
  for (const [k, v] of map) {
    const old = byName.get(k);
    out.push(old && old.value === v ? old : { name: k, value: v, pending: [] });
  }
  if (bucket) out.push(bucket);
  return { name, labels: out };
}

/** Whether a label set is shown to the walk's function (every label final), else passed untouched. */
export function isFinal(labels: readonly LabelSlot[]): boolean {
  return !labels.some((l) => l.pending.length > 0 || typeof l.value !== 'string');
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
