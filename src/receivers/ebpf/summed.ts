import type { LabelSlot, RawFamily } from '../../pipeline/data.ts';
import { NONE, rawColumnsFamily } from '../../pipeline/series.ts';
import type { MetricReader } from './reader.ts';

type Rows = readonly (readonly LabelSlot[])[];

/**
 * The readers of one metric: one, or several when definitions repeat a name to read several
 * maps (metrics.ts). Their families are summed into one: the rows of all, in the readers'
 * order, so that assemble adds up the rows that decode to the same label set (as it does
 * within one map). A series table stays one (pipeline/series.ts): the same rows array while
 * every part's is, `added` and `removed` gathered from the parts.
 */
export class MetricGroup {
  readonly readers: readonly MetricReader[];
  private parts: readonly Rows[] = [];
  private rows: Rows = NONE;

  constructor(readers: readonly MetricReader[]) {
    this.readers = readers;
  }

  /** One family from the families the readers gave, in their order. */
  sum(families: readonly RawFamily[]): RawFamily {
    const first = families[0];
    if (first === undefined) throw new Error('a metric group reads at least one map');
    if (families.length === 1) return first;
    const meta = {
      name: first.name,
      help: first.help,
      kind: first.kind,
      histogram: first.histogram,
      startTimeMs: first.startTimeMs,
    };
    const tables = families.map((f) => f.columns);
    if (tables.some((c) => c === undefined)) {
      this.parts = [];
      this.rows = NONE;
      return { ...meta, points: families.flatMap((f) => f.points) };
    }
    const columns = tables as NonNullable<RawFamily['columns']>[];
    const same = columns.length === this.parts.length && columns.every((c, i) => c.rows === this.parts[i]);
    if (!same) {
      this.parts = columns.map((c) => c.rows);
      this.rows = columns.flatMap((c) => c.rows);
    }
    const values = new Float64Array(this.rows.length);
    const added: number[] = [];
    const removed: (readonly LabelSlot[])[] = [];
    let base = 0;
    for (const c of columns) {
      values.set(c.values.subarray(0, c.rows.length), base);
      if (!same) {
        for (const a of c.added) added.push(base + a);
        removed.push(...c.removed);
      }
      base += c.rows.length;
    }
    return rawColumnsFamily(meta, {
      rows: this.rows,
      values,
      added: added.length > 0 ? added : NONE,
      removed: removed.length > 0 ? removed : NONE,
    });
  }
}

/** Readers grouped by metric name, in the order each name first appears. */
export function groupReaders(readers: readonly MetricReader[]): MetricGroup[] {
  const byName = new Map<string, MetricReader[]>();
  for (const r of readers) {
    const group = byName.get(r.def.name);
    if (group) group.push(r);
    else byName.set(r.def.name, [r]);
  }
  return [...byName.values()].map((g) => new MetricGroup(g));
}
