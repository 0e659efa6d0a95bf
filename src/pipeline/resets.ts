import type { HistogramPoint, Labels, MetricFamily, ScalarPoint } from './data.ts';
import { fieldsOf, scalarColumnsFamily, type ScalarColumns } from './series.ts';

/**
 * Start times of cumulative series across counter resets.
 *
 * A kernel map entry that is deleted and created again starts counting from zero, so its
 * counter (or histogram count) goes down. Prometheus takes a decrease as a reset by itself;
 * OTLP needs the cumulative point to carry a new start time, or the backend computes a
 * negative delta. This keeps, per series (family name + labels), the last value, when it was
 * observed and the series' start time:
 *
 * - first observation of a family: its series start at the family's start time (attach time);
 * - a series new to a family already observed: it did not exist at the family's previous
 *   observation, so it starts then;
 * - a value lower than the last: a reset after the last observation, so the series starts
 *   at the last observation time (not "now": a start equal to the point's time leaves no
 *   interval for the counts it already carries).
 *
 * Gauges pass through. Series not observed for `retainMs` are forgotten (memory stays bounded
 * by the live series); one that comes back is treated as new.
 */
export class ResetTracker {
  private readonly series = new Map<string, SeriesState>();
  private readonly families = new Map<string, { lastSeenMs: number }>();
  /** Series keys of each series table's rows (series.ts), by the rows' identity. */
  private readonly tableKeys = new WeakMap<readonly Labels[], { name: string; keys: string[] }>();
  private readonly retainMs: number;
  /** Resets seen so far (tests, self-metrics). */
  resets = 0;

  constructor(retainMs = 10 * 60_000) {
    this.retainMs = retainMs;
  }

  /** Number of series remembered (tests). */
  get size(): number {
    return this.series.size;
  }

  /** The families with a per-point start time where it differs from the family's. */
  apply(families: readonly MetricFamily[], observedMs: number): MetricFamily[] {
    return families.map((f) => {
      if (f.kind === 'gauge') return f;
      const family = this.families.get(f.name);
      const previousMs = family?.lastSeenMs;
      if (family) family.lastSeenMs = Math.max(family.lastSeenMs, observedMs);
      else this.families.set(f.name, { lastSeenMs: observedMs });
      if (f.kind === 'histogram') {
        const points: HistogramPoint[] = f.points.map((p) =>
          this.point(f.name, f.startTimeMs, previousMs, p, p.count, observedMs),
        );
        return { ...f, points };
      }
      if (f.columns !== undefined) return this.table(f, f.columns, previousMs, observedMs);
      const points: ScalarPoint[] = f.points.map((p) =>
        this.point(f.name, f.startTimeMs, previousMs, p, p.value, observedMs),
      );
      return { ...f, points };
    });
  }

  /** Forget series and families not observed since `nowMs - retainMs`. */
  sweep(nowMs: number): void {
    const cutoff = nowMs - this.retainMs;
    for (const [key, s] of this.series) if (s.lastSeenMs < cutoff) this.series.delete(key);
    for (const [name, f] of this.families) if (f.lastSeenMs < cutoff) this.families.delete(name);
  }

  /**
   * A series table (series.ts): each row's key made once per table, per collection one Map
   * lookup per row; start times that differ from the family's go in `starts`.
   */
  private table(
    f: Extract<MetricFamily, { kind: 'counter' | 'gauge' }>,
    c: ScalarColumns,
    previousMs: number | undefined,
    observedMs: number,
  ): MetricFamily {
    let known = this.tableKeys.get(c.rows);
    if (known === undefined || known.name !== f.name) {
      known = { name: f.name, keys: c.rows.map((labels) => `${f.name}\u0000${labelKey(labels)}`) };
      this.tableKeys.set(c.rows, known);
    }
    let starts: Float64Array | undefined;
    for (let i = 0; i < c.rows.length; i++) {
      const startMs = this.observe(
        known.keys[i] as string,
        f.startTimeMs,
        previousMs,
        c.values[i] as number,
        observedMs,
      );
      if (startMs !== f.startTimeMs) (starts ??= new Float64Array(c.rows.length).fill(NaN))[i] = startMs;
    }
    if (starts === undefined) return f;
    return scalarColumnsFamily(fieldsOf(f), { rows: c.rows, values: c.values, starts });
  }

  private point<P extends { readonly labels: Labels; readonly startTimeMs?: number | undefined }>(
    name: string,
    familyStartMs: number,
    familyPreviousMs: number | undefined,
    p: P,
    value: number,
    observedMs: number,
  ): P {
    const startMs = this.observe(
      `${name}\u0000${labelKey(p.labels)}`,
      familyStartMs,
      familyPreviousMs,
      value,
      observedMs,
    );
    return startMs === familyStartMs ? p : { ...p, startTimeMs: startMs };
  }

  /** One series' observation: its state updated, its start time returned. */
  private observe(
    key: string,
    familyStartMs: number,
    familyPreviousMs: number | undefined,
    value: number,
    observedMs: number,
  ): number {
    let s = this.series.get(key);
    if (!s) {
      const startMs =
        familyPreviousMs !== undefined && familyPreviousMs < observedMs
          ? Math.max(familyPreviousMs, familyStartMs)
          : familyStartMs;
      s = { value, lastSeenMs: observedMs, startMs };
      this.series.set(key, s);
    } else if (observedMs >= s.lastSeenMs) {
      if (value < s.value) {
        s.startMs = s.lastSeenMs;
        this.resets++;
      }
      s.value = value;
      s.lastSeenMs = observedMs;
    }
    return s.startMs;
  }
}

interface SeriesState {
  value: number;
  lastSeenMs: number;
  startMs: number;
}

/**
 * Keys by labels object: assemble hands out the same (immutable) labels object for a live
 * series on every collection, so its key is built once.
 */
const keys = new WeakMap<Labels, string>();

function labelKey(labels: Labels): string {
  let key = keys.get(labels);
  if (key === undefined) {
    key = makeLabelKey(labels);
    keys.set(labels, key);
  }
  return key;
}

function makeLabelKey(labels: Labels): string {
  return Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}\u0001${v}`)
    .join('\u0000');
}
