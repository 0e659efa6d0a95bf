import { map, type OperatorFunction } from 'rxjs';
import type { LabelSlot, MetricBatch, RawFamily, RawPoint } from '../pipeline/data.ts';
import { NONE, rawColumnsFamily, rowChanges, takeValues, type RawColumns } from '../pipeline/series.ts';
import { SKIP, resumeChain, type DecoderRegistry, type Skip } from './decoder.ts';

/**
 * What a memoizing processor tells the operator about its decoder's table.
 * - `generation()`: changes whenever the table changes (a re-read): every remembered
 *   result is dropped then;
 * - `volatile`: set to true by the decoder while it decodes a value that must not be
 *   remembered (a miss the decoder itself does not cache, e.g. `unknown_addr:…`, which a
 *   module loaded later can turn into a symbol); the operator clears it before each label set.
 */
export interface MemoSource {
  generation(): number;
  volatile: boolean;
  /**
   * Facts whose change marks exactly the rows derived from them (a cgroup removed): the
   * decoder pushes each fact it relied on for the label set being decoded (the operator
   * empties the list before each); a row whose fact was invalidated is derived again, and
   * so is, at its next batch, every table whose invalidations count moved since it was made.
   */
  readonly facts?: Fact[];
  /** How many facts have been invalidated so far (with `facts`). */
  invalidations?(): number;
}

/** One fact a decoded value depends on; `valid` turns false for good when it changes. */
export interface Fact {
  valid: boolean;
}

/** A remembered label set: the result and the facts it relied on (none: only the generation). */
interface Entry {
  readonly labels: readonly LabelSlot[] | Skip;
  readonly facts: readonly Fact[] | undefined;
}

/** What a batch's decoding counted. */
export interface ResumeStats {
  decodeErrors: number;
  lastError?: string;
}

/**
 * Resumes every label chain whose next decoder the registry supplies (a failing key is
 * dropped and counted; the rest of the batch goes on), with the result of each label set remembered by
 * the identity of its slot array. The reader hands out the same (immutable) slot array for
 * a map key on every read, so a key is decoded once, not once per scrape; the arrays made
 * here are immutable too and are handed out again, so the next stages can remember by
 * identity in turn. Kept in a WeakMap: an entry lives as long as the reader keeps the key.
 * Decode errors are not remembered (they are counted on every batch, as before).
 */
export class ChainMemo {
  private readonly registry: DecoderRegistry;
  private readonly source: MemoSource;
  private memo = new WeakMap<readonly LabelSlot[], Entry>();
  /**
   * Series tables (pipeline/series.ts): the output table of an input table, by the identity
   * of its rows, while the decoder's table is unchanged; per batch only values move.
   */
  private tables = new WeakMap<readonly (readonly LabelSlot[])[], Table | typeof PASS>();
  private generation: number | undefined;
  /** Label sets derived again because a fact of theirs changed, for tests. */
  rederived = 0;
  /** Label sets decoded (not served from memory), for tests. */
  decoded = 0;

  constructor(registry: DecoderRegistry, source: MemoSource) {
    this.registry = registry;
    this.source = source;
  }

  /** Forget every remembered result. */
  clear(): void {
    this.memo = new WeakMap();
    this.tables = new WeakMap();
    this.generation = undefined;
  }

  operator(
    onErrors: (source: string, config: string, stats: ResumeStats) => void,
  ): OperatorFunction<MetricBatch, MetricBatch> {
    return map((batch) => {
      const stats: ResumeStats = { decodeErrors: 0 };
      const families = batch.families.map((f) => this.family(f, stats));
      if (stats.decodeErrors > 0) onErrors(batch.source, batch.config, stats);
      return { ...batch, families };
    });
  }

  private family(f: RawFamily, stats: ResumeStats): RawFamily {
    const registry = this.registry;
    if (f.columns !== undefined) return this.columns(f, f.columns, stats);
    if (
      !f.points.some((p) =>
        p.labels.some((l) => l.pending.length > 0 && registry.has((l.pending[0] as { name: string }).name)),
      )
    ) {
      return f;
    }
    this.checkGeneration();
    const points: RawPoint[] = [];
    for (const p of f.points) {
      const labels = this.labelsOf(p.labels, stats);
      if (labels === ERROR) continue;
      if (labels !== SKIP) points.push(labels === p.labels ? p : { labels, value: p.value });
    }
    return { ...f, points };
  }

  private invalidations(): number {
    return this.source.invalidations?.() ?? 0;
  }

  /** Forget everything remembered when the decoder's table changed. */
  private checkGeneration(): void {
    const generation = this.source.generation();
    if (generation !== this.generation) {
      if (this.generation !== undefined) {
        this.memo = new WeakMap();
        this.tables = new WeakMap();
      }
      this.generation = generation;
    }
  }

  /** The decoded label set of a slot array (remembered unless volatile), or ERROR (counted). */
  private labelsOf(
    slots: readonly LabelSlot[],
    stats: ResumeStats,
  ): readonly LabelSlot[] | Skip | typeof ERROR {
    const known = this.memo.get(slots);
    if (known !== undefined && (known.facts === undefined || known.facts.every((f) => f.valid))) {
      return known.labels;
    }
    const source = this.source;
    source.volatile = false;
    if (source.facts !== undefined) source.facts.length = 0;
    let labels: readonly LabelSlot[] | Skip;
    try {
      labels = this.resume(slots);
    } catch (err) {
      stats.decodeErrors++;
      stats.lastError = err instanceof Error ? err.message : String(err);
      return ERROR;
    }
    this.decoded++;
    if (known !== undefined) {
      this.rederived++;
      // Derived again to the same labels (a removed cgroup keeps its path for a while): the
      // remembered array stays, so the later stages see nothing new.
      if (sameLabels(known.labels, labels)) labels = known.labels;
    }
    if (!source.volatile) {
      const facts =
        source.facts === undefined || source.facts.length === 0 ? undefined : source.facts.slice();
      this.memo.set(slots, { labels, facts });
    } else this.uncertain = true;
    return labels;
  }

  /**
   * A series table: its output table is derived once per input table and kept (unless a
   * row's result is volatile or failed: then it is derived again next batch, as the points
   * path decodes such keys again); per batch the values are passed on (or gathered when rows
   * were dropped).
   */
  private columns(f: RawFamily, c: RawColumns, stats: ResumeStats): RawFamily {
    this.checkGeneration();
    let table = this.tables.get(c.rows);
    let added: readonly number[] = NONE;
    let removed: readonly (readonly LabelSlot[])[] = NONE;
    if (table !== undefined && table !== PASS && table.invalidations !== this.invalidations()) {
      // A fact changed since this table was made: its rows are checked (only those whose
      // facts changed are derived again); it stays the same table unless an output changed.
      const again = this.derive(c.rows, stats);
      const kept = this.tables.get(c.rows) === again; // not when a row is volatile or failed
      if (again !== PASS && sameTable(again, table)) {
        table.invalidations = again.invalidations;
        if (kept) this.tables.set(c.rows, table);
        else this.tables.delete(c.rows);
      } else {
        if (again !== PASS) ({ added, removed } = rowChanges(table.rows, again.rows));
        if (!kept) this.tables.delete(c.rows);
        table = again;
      }
    }
    if (table === undefined) {
      table = this.derive(c.rows, stats);
      if (table !== PASS) {
        added = mapAdded(c.added, table);
        removed = this.mapRemoved(c.removed);
      }
    }
    if (table === PASS) return f;
    return rawColumnsFamily(
      { name: f.name, help: f.help, kind: f.kind, histogram: f.histogram, startTimeMs: f.startTimeMs },
      { rows: table.rows, values: takeValues(c.values, table.take), added, removed },
    );
  }

  private derive(rows: readonly (readonly LabelSlot[])[], stats: ResumeStats): Table | typeof PASS {
    const registry = this.registry;
    let needed = false;
    for (const row of rows) {
      for (const l of row)
        if (l.pending.length > 0 && registry.has((l.pending[0] as { name: string }).name)) {
          needed = true;
          break;
        }
      if (needed) break;
    }
    if (!needed) {
      this.tables.set(rows, PASS);
      return PASS;
    }
    this.uncertain = false;
    const invalidations = this.invalidations();
    const errors = stats.decodeErrors;
    const out: (readonly LabelSlot[])[] = [];
    const take: number[] = [];
    for (let i = 0; i < rows.length; i++) {
      const labels = this.labelsOf(rows[i] as readonly LabelSlot[], stats);
      if (labels === ERROR || labels === SKIP) continue;
      out.push(labels);
      take.push(i);
    }
    const table: Table = {
      rows: out,
      take: take.length === rows.length ? undefined : Int32Array.from(take),
      invalidations,
    };
    if (!this.uncertain && stats.decodeErrors === errors) this.tables.set(rows, table);
    return table;
  }

  /** The output label sets of input rows gone (those remembered; others were never out). */
  private mapRemoved(removed: readonly (readonly LabelSlot[])[]): readonly (readonly LabelSlot[])[] {
    if (removed.length === 0) return NONE;
    const out: (readonly LabelSlot[])[] = [];
    for (const slots of removed) {
      const labels = this.memo.get(slots)?.labels;
      if (labels !== undefined && labels !== SKIP) out.push(labels);
    }
    return out;
  }

  /** Set when a label set was decoded to a result not remembered (volatile). */
  private uncertain = false;

  private resume(labels: readonly LabelSlot[]): readonly LabelSlot[] | Skip {
    let out: LabelSlot[] | undefined;
    for (let i = 0; i < labels.length; i++) {
      const slot = labels[i] as LabelSlot;
      if (slot.pending.length === 0) continue;
      const next = resumeChain(slot, this.registry);
      if (next === SKIP) return SKIP;
      if (next !== slot) {
        out ??= labels.slice();
        out[i] = next;
      }
    }
    return out ?? labels;
  }
}

/** A label set whose decode threw (counted, dropped, never remembered). */
const ERROR: unique symbol = Symbol('decode error');

/** An input table no label of which needs this processor: passed on as it is. */
const PASS: unique symbol = Symbol('pass');

interface Table {
  readonly rows: readonly (readonly LabelSlot[])[];
  /** The input row of each output row; undefined when every row is kept (same positions). */
  readonly take: Int32Array | undefined;
  /** The source's invalidations count when the table was made (or last found unchanged). */
  invalidations: number;
}

function sameLabels(a: readonly LabelSlot[] | Skip, b: readonly LabelSlot[] | Skip): boolean {
  if (a === b) return true;
  if (a === SKIP || b === SKIP || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as LabelSlot;
    const y = b[i] as LabelSlot;
    if (x.name !== y.name || x.value !== y.value || x.pending.length !== y.pending.length) return false;
    for (let j = 0; j < x.pending.length; j++) if (x.pending[j] !== y.pending[j]) return false;
  }
  return true;
}

function sameTable(a: Table, b: Table): boolean {
  if (a.rows.length !== b.rows.length) return false;
  for (let i = 0; i < a.rows.length; i++) if (a.rows[i] !== b.rows[i]) return false;
  if (a.take === undefined || b.take === undefined) return a.take === b.take;
  for (let i = 0; i < a.take.length; i++) if (a.take[i] !== b.take[i]) return false;
  return true;
}

/** Input rows added → output rows (positions shift where rows were dropped). */
function mapAdded(added: readonly number[], table: Table): readonly number[] {
  if (added.length === 0) return NONE;
  const take = table.take;
  if (take === undefined) return added;
  const out: number[] = [];
  let j = 0;
  for (const a of added) {
    while (j < take.length && (take[j] as number) < a) j++;
    if (take[j] === a) out.push(j);
  }
  return out;
}
