import type { LabelSlot, RawFamily } from '../pipeline/data.ts';
import { NONE, rawColumnsFamily, takeValues, type RawColumns } from '../pipeline/series.ts';
import { isFinal, mapLabels, type PointCounts, type PointFn } from './points.ts';

type Row = readonly LabelSlot[];

/**
 * What one input row became: under which output family (`name`, undefined when dropped)
 * and with which labels; `skipped` (a label still pending: passed untouched) and `error`
 * are counted on every batch, as the points path counts them.
 */
interface RowResult {
  /** The input family's name the result was derived under (`__name__` is an input of `fn`). */
  readonly family: string;
  readonly name: string | undefined;
  readonly labels: Row;
  readonly skipped: boolean;
  readonly error: string | undefined;
}

interface Output {
  readonly name: string;
  readonly rows: Row[];
  /** The input row of each output row. */
  readonly take: number[];
}

/** An input table's result, by the identity of its rows (while the family's name is the same). */
interface TableResult {
  readonly family: string;
  /** Every row kept, unchanged, in its family: the input family is passed on as it is. */
  readonly same: boolean;
  readonly outputs: readonly {
    readonly name: string;
    readonly rows: readonly Row[];
    /** undefined: output row i is input row i (values passed on). */
    readonly take: Int32Array | undefined;
  }[];
  /** Per input row: its output (index into `outputs`, -1 dropped or failed) and its row there. */
  readonly outputOf: Int32Array;
  readonly rowOf: Int32Array;
  readonly skipped: number;
  readonly errors: number;
  readonly lastError: string | undefined;
}

/**
 * The series-table side of the label walk (points.ts) for one pure function (relabel,
 * attributes, filter: the result depends on the label set, the family's name and the
 * processor's config only): each row goes through `fn` once and its result is kept by the
 * row's identity; each input table's output tables are kept by the identity of its rows
 * (src/pipeline/README.md). Per batch only values move: passed on when every row keeps its
 * place, gathered otherwise; skipped and failed rows are counted on every batch, as the
 * points path counts them. `added` and `removed` are mapped to the output tables.
 */
export class LabelTables {
  private readonly fn: PointFn;
  private readonly results = new WeakMap<Row, RowResult>();
  private readonly tables = new WeakMap<readonly Row[], TableResult>();
  /** Rows put through `fn` (not served from memory), for tests. */
  derived = 0;

  constructor(fn: PointFn) {
    this.fn = fn;
  }

  family(f: RawFamily, c: RawColumns, counts: PointCounts): RawFamily[] {
    if (c.rows.length === 0) {
      // Kept (as the points path keeps a family without points), its `removed` mapped.
      if (this.passedOn(c.removed, f.name)) return [f];
      const fields = {
        name: f.name,
        help: f.help,
        kind: f.kind,
        histogram: f.histogram,
        startTimeMs: f.startTimeMs,
      };
      return [
        rawColumnsFamily(fields, { ...c, added: NONE, removed: this.mapRemoved(c.removed, f.name, f.name) }),
      ];
    }
    let table = this.tables.get(c.rows);
    let fresh = false;
    if (table === undefined || table.family !== f.name) {
      table = this.derive(f, c.rows);
      this.tables.set(c.rows, table);
      fresh = true;
    }
    counts.skipped += table.skipped;
    if (table.errors > 0) {
      counts.errors += table.errors;
      counts.lastError = table.lastError;
    }
    // Kept as it is, unless its `removed` names rows this walk never passed on unchanged.
    if (table.same && (!fresh || this.passedOn(c.removed, f.name))) return [f];
    const out: RawFamily[] = [];
    for (let k = 0; k < table.outputs.length; k++) {
      const o = table.outputs[k] as TableResult['outputs'][number];
      out.push(
        rawColumnsFamily(
          { name: o.name, help: f.help, kind: f.kind, histogram: f.histogram, startTimeMs: f.startTimeMs },
          {
            rows: o.rows,
            values: takeValues(c.values, o.take),
            added: fresh ? this.mapAdded(c.added, table, k) : NONE,
            removed: fresh ? this.mapRemoved(c.removed, f.name, o.name) : NONE,
          },
        ),
      );
    }
    return out;
  }

  private rowResult(f: RawFamily, row: Row, hasBucket: boolean): RowResult {
    const known = this.results.get(row);
    if (known !== undefined && known.family === f.name) return known;
    this.derived++;
    let r: RowResult;
    if (!isFinal(row)) {
      r = { family: f.name, name: f.name, labels: row, skipped: true, error: undefined };
    } else {
      try {
        const out = mapLabels(f, row, hasBucket, this.fn);
        r = { family: f.name, name: out?.name, labels: out?.labels ?? row, skipped: false, error: undefined };
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        r = { family: f.name, name: undefined, labels: row, skipped: false, error };
      }
    }
    this.results.set(row, r);
    return r;
  }

  private derive(f: RawFamily, rows: readonly Row[]): TableResult {
    const hasBucket = f.kind === 'histogram';
    // The input family's own output first, then renamed ones in order of first appearance.
    const byName = new Map<string, Output>([[f.name, { name: f.name, rows: [], take: [] }]]);
    const outputOf = new Int32Array(rows.length);
    const rowOf = new Int32Array(rows.length);
    let skipped = 0;
    let errors = 0;
    let lastError: string | undefined;
    let same = true;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as Row;
      const r = this.rowResult(f, row, hasBucket);
      if (r.skipped) skipped++;
      if (r.error !== undefined) {
        errors++;
        lastError = r.error;
      }
      if (r.name === undefined) {
        outputOf[i] = -1;
        same = false;
        continue;
      }
      if (r.name !== f.name || r.labels !== row) same = false;
      let o = byName.get(r.name);
      if (o === undefined) byName.set(r.name, (o = { name: r.name, rows: [], take: [] }));
      rowOf[i] = o.rows.length;
      o.rows.push(r.labels);
      o.take.push(i);
    }
    const outputs: TableResult['outputs'][number][] = [];
    let k = 0;
    const index = new Map<string, number>();
    for (const o of byName.values()) {
      if (o.rows.length === 0) continue;
      index.set(o.name, k++);
      const identity = o.take.length === rows.length; // every row, in order (one output)
      // Every row as it came: the input rows themselves (the family is passed on as it is).
      const out = same ? rows : o.rows;
      outputs.push({ name: o.name, rows: out, take: identity ? undefined : Int32Array.from(o.take) });
    }
    for (let i = 0; i < rows.length; i++) {
      if (outputOf[i] === -1) continue;
      outputOf[i] = index.get((this.results.get(rows[i] as Row) as RowResult).name as string) as number;
    }
    return { family: f.name, same, outputs, outputOf, rowOf, skipped, errors, lastError };
  }

  /** Whether every row in `removed` was passed on unchanged in family `name`. */
  private passedOn(removed: readonly Row[], name: string): boolean {
    for (const row of removed) {
      const r = this.results.get(row);
      if (r === undefined || r.family !== name || r.name !== name || r.labels !== row) return false;
    }
    return true;
  }

  /** Input rows added → rows of output `k`. */
  private mapAdded(added: readonly number[], table: TableResult, k: number): readonly number[] {
    if (added.length === 0) return NONE;
    const out: number[] = [];
    for (const a of added) if (table.outputOf[a] === k) out.push(table.rowOf[a] as number);
    return out;
  }

  /** Input rows gone → the label sets they had in output `name` (rows never seen were never out). */
  private mapRemoved(removed: readonly Row[], family: string, name: string): readonly Row[] {
    if (removed.length === 0) return NONE;
    const out: Row[] = [];
    for (const row of removed) {
      const r = this.results.get(row);
      if (r !== undefined && r.family === family && r.name === name) out.push(r.labels);
    }
    return out;
  }
}
