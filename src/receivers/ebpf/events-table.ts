import type { LabelSlot } from '../../pipeline/data.ts';
import { NONE, type RawColumns } from '../../pipeline/series.ts';

type Row = readonly LabelSlot[];

/**
 * The series table of one event-derived metric (the contract in src/pipeline/README.md).
 * Each collection pushes its rows in order — a row is an immutable label set kept by the
 * metric for as long as its series lives (an entry's decoded labels, a histogram bucket's
 * labels) — with this collection's value. `rows` stays the previous array while the rows and
 * their order are those of the previous collection; otherwise a new array, with the rows
 * added and the label sets removed since then. Values are a fresh array per collection.
 */
export class EventTable {
  private prev: Row[] = [];
  /** This collection's rows, once they differ from `prev` (undefined: same so far). */
  private rows: Row[] | undefined;
  private n = 0;
  private scratch = new Float64Array(64);

  begin(): void {
    this.n = 0;
    this.rows = undefined;
  }

  push(row: Row, value: number): void {
    const i = this.n++;
    if (i === this.scratch.length) {
      const grown = new Float64Array(this.scratch.length * 2);
      grown.set(this.scratch);
      this.scratch = grown;
    }
    this.scratch[i] = value;
    if (this.rows === undefined) {
      if (this.prev[i] === row) return;
      this.rows = this.prev.slice(0, i);
    }
    this.rows.push(row);
  }

  end(): RawColumns {
    const values = this.scratch.slice(0, this.n);
    let rows = this.rows;
    if (rows === undefined && this.n !== this.prev.length) rows = this.prev.slice(0, this.n);
    if (rows === undefined) return { rows: this.prev, values, added: NONE, removed: NONE };
    const before = new Set(this.prev);
    const now = new Set(rows);
    const added: number[] = [];
    for (let i = 0; i < rows.length; i++) if (!before.has(rows[i] as Row)) added.push(i);
    const removed = this.prev.filter((r) => !now.has(r));
    this.prev = rows;
    this.rows = undefined;
    return {
      rows,
      values,
      added: added.length > 0 ? added : NONE,
      removed: removed.length > 0 ? removed : NONE,
    };
  }
}
