import { map, type OperatorFunction } from 'rxjs';
import type { LabelSlot, MetricBatch, RawFamily, RawPoint } from '../../pipeline/data.ts';
import { NONE, rawColumnsFamily, type RawColumns } from '../../pipeline/series.ts';
import { parseContainerCgroup, type ContainerIdentity } from './parse.ts';

export interface ContainerLabelNames {
  readonly containerId: string;
  readonly containerRuntime: string;
  readonly podUid: string;
  readonly podQos: string;
}

/**
 * Add container/pod labels to every point whose `from` label holds a decoded
 * cgroup path naming a container or pod. Only the labels the path says are
 * added (a plain docker container has no pod); a label of the same name is
 * replaced. Points without the label, with the label still pending (its
 * decoders not run yet), or whose path names no container pass untouched, as
 * do families with no such point (no copy). Paths are parsed once per batch.
 */
export function addContainerLabels(
  from: string,
  names: ContainerLabelNames,
): OperatorFunction<MetricBatch, MetricBatch> {
  const tables = new ContainerTables(from);
  return map((batch) => {
    const memo = new Map<string, LabelSlot[] | undefined>();
    const extraFor = (path: string): LabelSlot[] | undefined => {
      if (memo.has(path)) return memo.get(path);
      const id = parseContainerCgroup(path);
      const extra = id ? slots(id, names) : undefined;
      memo.set(path, extra);
      return extra;
    };
    let changed = false;
    const families = batch.families.map((f) => {
      const out =
        f.columns !== undefined ? tables.family(f, f.columns, extraFor) : labelFamily(f, from, extraFor);
      if (out !== f) changed = true;
      return out;
    });
    return changed ? { ...batch, families } : batch;
  });
}

type Row = readonly LabelSlot[];

/**
 * Series tables (src/pipeline/README.md): pure given the path, so each row is labelled once
 * (kept by the row's identity: a container gone upstream is a new row from the cgroup
 * processor) and each input table's output rows once (by the identity of its rows). Rows
 * keep their places, so values, `added` and `removed` pass on (removed mapped to the rows
 * this processor gave out).
 */
class ContainerTables {
  private readonly from: string;
  private readonly rows = new WeakMap<Row, Row>();
  private readonly tables = new WeakMap<readonly Row[], readonly Row[]>();

  constructor(from: string) {
    this.from = from;
  }

  family(f: RawFamily, c: RawColumns, extraFor: (path: string) => LabelSlot[] | undefined): RawFamily {
    let out = this.tables.get(c.rows);
    const fresh = out === undefined;
    if (out === undefined) {
      let labelled: Row[] | undefined;
      for (let i = 0; i < c.rows.length; i++) {
        const row = c.rows[i] as Row;
        let o = this.rows.get(row);
        if (o === undefined) {
          o = this.label(row, extraFor);
          this.rows.set(row, o);
        }
        if (o !== row) labelled ??= c.rows.slice(0, i);
        labelled?.push(o);
      }
      out = labelled ?? c.rows;
      this.tables.set(c.rows, out);
    }
    const removed: Row[] = [];
    let same = out === c.rows;
    if (fresh) {
      for (const r of c.removed) {
        const o = this.rows.get(r) ?? r;
        if (o !== r) same = false; // a row gone that was given out labelled
        removed.push(o);
      }
    }
    if (same) return f;
    return rawColumnsFamily(
      { name: f.name, help: f.help, kind: f.kind, histogram: f.histogram, startTimeMs: f.startTimeMs },
      { rows: out, values: c.values, added: fresh ? c.added : NONE, removed: fresh ? removed : NONE },
    );
  }

  private label(row: Row, extraFor: (path: string) => LabelSlot[] | undefined): Row {
    const slot = row.find((l) => l.name === this.from);
    if (!slot || slot.pending.length > 0 || typeof slot.value !== 'string') return row;
    const extra = extraFor(slot.value);
    return extra ? merge(row, extra) : row;
  }
}

function labelFamily(
  f: RawFamily,
  from: string,
  extraFor: (path: string) => LabelSlot[] | undefined,
): RawFamily {
  let points: RawPoint[] | undefined;
  f.points.forEach((p, i) => {
    const slot = p.labels.find((l) => l.name === from);
    if (!slot || slot.pending.length > 0 || typeof slot.value !== 'string') return;
    const extra = extraFor(slot.value);
    if (!extra) return;
    points ??= f.points.slice();
    points[i] = { labels: merge(p.labels, extra), value: p.value };
  });
  return points ? { ...f, points } : f;
}

/** `labels` with `extra` appended; an existing label of the same name is replaced in place. */
function merge(labels: readonly LabelSlot[], extra: readonly LabelSlot[]): LabelSlot[] {
  const out = labels.slice();
  for (const e of extra) {
    const at = out.findIndex((l) => l.name === e.name);
    if (at >= 0) out[at] = e;
    else out.push(e);
  }
  return out;
}

function slots(id: ContainerIdentity, names: ContainerLabelNames): LabelSlot[] {
  const out: LabelSlot[] = [];
  const add = (name: string, value: string | undefined): void => {
    if (value !== undefined) out.push({ name, value, pending: [] });
  };
  add(names.containerId, id.containerId);
  add(names.containerRuntime, id.containerRuntime);
  add(names.podUid, id.podUid);
  add(names.podQos, id.podQos);
  return out;
}
