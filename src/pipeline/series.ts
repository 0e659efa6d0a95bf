import type { LabelSlot, Labels, MetricFamily, RawFamily, RawPoint, ScalarPoint } from './data.ts';

/**
 * Series tables: the columnar form of a family, for data whose series outlive a collection
 * (map-polled metrics). The contract every producer and consumer keeps (README.md beside
 * this file says it at length):
 *
 * - A family may carry `columns` beside `points`. `columns.rows` holds one label set per
 *   series (a row), `columns.values` this collection's value of each row, aligned
 *   (`values.length >= rows.length`; entries past `rows.length` mean nothing).
 * - **`rows` is the same array object for as long as the series and their order are
 *   unchanged**, and a new array as soon as one is added, removed or moved. Its elements
 *   are immutable and are the same objects from collection to collection for a series that
 *   lives on. Consumers derive per-row state once and keep it keyed by the identity of
 *   `rows` (and of each row: a changed table still shares the rows of the series that
 *   stayed); per collection they only read `values`.
 * - `added` lists the rows (indexes into `rows`) of series new since the producer's
 *   previous collection, `removed` the label sets of series gone since then; both empty when
 *   `rows` is unchanged. Consumers that hold explicit (not weak) per-series state forget
 *   exactly `removed`.
 * - `values` is a fresh array per collection: a batch is immutable once emitted, so an
 *   exporter may keep it while the producer reads again.
 * - `points` stays valid: it is made from the columns on first use, for consumers that do
 *   not read columns (they then pay what they always paid). `columns` is not enumerable, so a
 *   consumer that spreads a family into a new one (`{ ...f, points }`) drops it and its
 *   output is a plain family: never columns that disagree with the points.
 */
export interface RawColumns {
  readonly rows: readonly (readonly LabelSlot[])[];
  readonly values: Float64Array;
  readonly added: readonly number[];
  readonly removed: readonly (readonly LabelSlot[])[];
}

/** The assembled counterpart of RawColumns (counters and gauges): the same contract, with labels objects. */
export interface ScalarColumns {
  readonly rows: readonly Labels[];
  readonly values: Float64Array;
  /**
   * Start of each row's cumulative count (ms since the epoch) where it differs from the
   * family's (after a counter reset; the OTLP path's ResetTracker); NaN: the family's.
   * Absent: every row starts with the family.
   */
  readonly starts?: Float64Array | undefined;
}

/** No rows added or removed. */
export const NONE: readonly never[] = Object.freeze([]);

/**
 * A family whose `points` are made from `columns` on first use (and kept), `columns` being
 * non-enumerable (see the contract above).
 */
function withColumns<F extends object, P>(
  fields: F,
  columns: { readonly rows: readonly unknown[]; readonly values: Float64Array },
  point: (i: number) => P,
): F & { readonly points: readonly P[] } {
  let points: P[] | undefined;
  const out = { ...fields } as F & { points: readonly P[] };
  Object.defineProperty(out, 'points', {
    enumerable: true,
    configurable: true,
    get(): readonly P[] {
      if (points === undefined) {
        points = [];
        for (let i = 0; i < columns.rows.length; i++) points.push(point(i));
      }
      return points;
    },
  });
  Object.defineProperty(out, 'columns', { value: columns, enumerable: false });
  return out;
}

/** A raw family (reader output) in columnar form. */
export function rawColumnsFamily(
  fields: Omit<RawFamily, 'points' | 'columns'>,
  columns: RawColumns,
): RawFamily {
  return withColumns(fields, columns, (i): RawPoint => ({
    labels: columns.rows[i] as readonly LabelSlot[],
    value: columns.values[i] as number,
  }));
}

type ScalarFamily = Extract<MetricFamily, { kind: 'counter' | 'gauge' }>;

/** An assembled counter or gauge in columnar form. */
export function scalarColumnsFamily(
  fields: Omit<ScalarFamily, 'points' | 'columns'>,
  columns: ScalarColumns,
): ScalarFamily {
  return withColumns(fields, columns, (i): ScalarPoint => {
    const labels = columns.rows[i] as Labels;
    const value = columns.values[i] as number;
    const start = columns.starts?.[i];
    return start === undefined || Number.isNaN(start)
      ? { labels, value }
      : { labels, value, startTimeMs: start };
  });
}

/** A family's fields but its points (and columns), without making its points. */
export function fieldsOf<F extends MetricFamily>(f: F): Omit<F, 'points' | 'columns'> {
  const base: Record<string, unknown> = {};
  for (const k of Object.keys(f)) if (k !== 'points') base[k] = (f as Record<string, unknown>)[k];
  return base as Omit<F, 'points' | 'columns'>;
}

/** The family with other fields, keeping its columns (a spread would drop them). */
export function withFields<F extends MetricFamily>(f: F, fields: Partial<Omit<F, 'points' | 'columns'>>): F {
  if (f.kind !== 'histogram' && f.columns !== undefined)
    return scalarColumnsFamily({ ...fieldsOf<ScalarFamily>(f), ...fields }, f.columns) as F;
  return { ...f, ...fields };
}

/** How many points a family has, without making its points. */
export function pointCount(f: MetricFamily | RawFamily | undefined): number {
  if (f === undefined) return 0;
  const c = (f as { columns?: { rows: readonly unknown[] } }).columns;
  return c !== undefined ? c.rows.length : f.points.length;
}

/**
 * The values of a derived table whose row i is input row `take[i]` (rows dropped or moved),
 * or the input's own `values` when every row keeps its place (`take` undefined).
 */
export function takeValues(values: Float64Array, take: ArrayLike<number> | undefined): Float64Array {
  if (take === undefined) return values;
  const out = new Float64Array(take.length);
  for (let i = 0; i < take.length; i++) out[i] = values[take[i] as number] as number;
  return out;
}

/**
 * The rows new (indexes into `after`) and gone (rows of `before`) between two tables of one
 * family, by row identity: a derived table's `added` and `removed` when its rows change.
 */
export function rowChanges<R extends readonly LabelSlot[] | Labels>(
  before: readonly R[],
  after: readonly R[],
): { added: readonly number[]; removed: readonly R[] } {
  if (before === after) return { added: NONE, removed: NONE };
  const had = new Set(before);
  const has = new Set(after);
  const added: number[] = [];
  for (let i = 0; i < after.length; i++) if (!had.has(after[i] as R)) added.push(i);
  const removed = before.filter((r) => !has.has(r));
  return { added: added.length === 0 ? NONE : added, removed: removed.length === 0 ? NONE : removed };
}
