import { Observable, type OperatorFunction } from 'rxjs';
import type { LabelSlot, MetricBatch, RawFamily, RawPoint } from '../../pipeline/data.ts';
import type { PodMatch } from './pod-index.ts';
import { NONE, rawColumnsFamily, rowChanges, takeValues, type RawColumns } from '../../pipeline/series.ts';

/** What the operator needs of the pod cache. */
export interface PodLookup {
  /** False while the API is unreachable: unknown pods are not waited for. */
  readonly available: () => boolean;
  readonly find: (uid: string | undefined, containerId: string | undefined) => PodMatch | undefined;
  /** True for a pod that was deleted and forgotten: its points pass without waiting. */
  readonly forgotten?: (uid: string | undefined, containerId: string | undefined) => boolean;
  /** Call `listener` when pods were added or changed, or availability changed; returns the unsubscribe. */
  readonly subscribe: (listener: () => void) => () => void;
}

export interface K8sOperatorOptions {
  readonly podUidLabel: string;
  readonly containerIdLabel: string;
  readonly pendingTimeoutMs: number;
  readonly maxPending: number;
  readonly now?: () => number;
  /** Pods given up on: waited `pendingTimeoutMs` ('timeout') or not held, `maxPending` reached ('full'). */
  readonly onReleased?: (reason: 'timeout' | 'full', ids: readonly string[]) => void;
  /** A batch passed with points of unknown pods while the API was unavailable. */
  readonly onDegraded?: (source: string, points: number) => void;
}

/**
 * Add pod labels to every point whose pod uid or container id label names a
 * known pod: `k8s_pod_name`, `k8s_namespace_name`, `k8s_node_name`, the
 * extracted pod labels and annotations, and `k8s_container_name` when the
 * container id is known. New labels go before a histogram's bucket label
 * (which stays last).
 *
 * Holding early data. Batches are cumulative snapshots and exporters keep the
 * newest batch of each source, so "holding" a point means leaving it out of
 * the emitted batch — the series does not appear unlabelled first and then
 * again labelled. The operator keeps the newest input batch of each source that
 * had held points; when a held pod appears it re-emits that batch (now
 * labelled), and when the oldest hold reaches `pendingTimeoutMs` it re-emits it
 * with the points passed unlabelled. A pod given up on is not held again.
 * At most `maxPending` pods are held at once. While the API is unavailable
 * nothing is held.
 */
export function k8sAttributes(
  lookup: PodLookup,
  options: K8sOperatorOptions,
): OperatorFunction<MetricBatch, MetricBatch> {
  const now = options.now ?? Date.now;
  return (source$) =>
    new Observable<MetricBatch>((subscriber) => {
      /** Pod key (uid, else container id) → when it was first held. */
      const pending = new Map<string, number>();
      /** Pod keys given up on (oldest first, bounded). */
      const released = new Map<string, true>();
      /** Newest input batch of each source with held points. */
      const held = new Map<string, MetricBatch>();
      let timer: NodeJS.Timeout | undefined;

      const release = (key: string) => {
        pending.delete(key);
        released.set(key, true);
        if (released.size > Math.max(1024, options.maxPending * 4)) {
          released.delete(released.keys().next().value as string);
        }
      };

      const schedule = () => {
        clearTimeout(timer);
        timer = undefined;
        if (held.size === 0) {
          pending.clear();
          return;
        }
        let first = Infinity;
        for (const t of pending.values()) first = Math.min(first, t);
        if (first === Infinity) return;
        timer = setTimeout(
          () => {
            timer = undefined;
            reemit();
          },
          Math.max(0, first + options.pendingTimeoutMs - now()),
        );
        timer.unref();
      };

      const tables = new PodTables();
      const process = (batch: MetricBatch): MetricBatch => {
        const t = now();
        const available = lookup.available();
        const expired: string[] = [];
        const overflow: string[] = [];
        let degraded = 0;
        let holding = false;
        /** A label set's output (itself, or with its pod's labels), or undefined while its pod is held. */
        const decide = (labels: Row, histogram: boolean): Row | undefined => {
          const uid = stringLabel(labels, options.podUidLabel);
          const cid = stringLabel(labels, options.containerIdLabel);
          const key = uid ?? cid;
          if (key === undefined) return labels;
          const match = lookup.find(uid, cid);
          if (match) {
            pending.delete(key);
            return labelled(labels, match, histogram);
          }
          if (!available) {
            degraded++;
            pending.delete(key);
            return labels;
          }
          if (released.has(key) || lookup.forgotten?.(uid, cid) === true) {
            pending.delete(key);
            return labels;
          }
          let since = pending.get(key);
          if (since === undefined) {
            if (pending.size >= options.maxPending) {
              release(key);
              overflow.push(key);
              return labels;
            }
            since = t;
            pending.set(key, t);
          }
          if (t - since >= options.pendingTimeoutMs) {
            release(key);
            expired.push(key);
            return labels;
          }
          holding = true;
          return undefined;
        };
        const families = batch.families.map((f): RawFamily => {
          const histogram = f.kind === 'histogram';
          if (f.columns !== undefined)
            return tables.family(batch.source, f, f.columns, (row) => decide(row, histogram));
          let changed = false;
          const points: RawPoint[] = [];
          for (const p of f.points) {
            const labels = decide(p.labels, histogram);
            if (labels === p.labels) points.push(p);
            else {
              changed = true;
              if (labels !== undefined) points.push({ labels, value: p.value });
            }
          }
          return changed ? { ...f, points } : f;
        });
        if (holding) held.set(batch.source, batch);
        else held.delete(batch.source);
        if (expired.length > 0) options.onReleased?.('timeout', expired);
        if (overflow.length > 0) options.onReleased?.('full', overflow);
        if (degraded > 0) options.onDegraded?.(batch.source, degraded);
        return { ...batch, families };
      };

      const reemit = () => {
        for (const batch of [...held.values()]) subscriber.next(process(batch));
        // Every held batch was just processed: a key still pending past the timeout is in none of
        // them (its source moved on without it). Drop it, or the timer would fire at once forever.
        const t = now();
        for (const [key, since] of pending) if (t - since >= options.pendingTimeoutMs) pending.delete(key);
        schedule();
      };

      const unsubscribeLookup = lookup.subscribe(() => {
        if (held.size === 0) return;
        // Re-emit when a held pod is now known, or nothing is waited for any more.
        const resolved =
          !lookup.available() || [...pending.keys()].some((k) => lookup.find(k, k) !== undefined);
        if (resolved) reemit();
      });

      const subscription = source$.subscribe({
        next: (batch) => {
          let out: MetricBatch;
          try {
            out = process(batch);
          } catch (err) {
            subscriber.error(err);
            return;
          }
          subscriber.next(out);
          schedule();
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });

      return () => {
        clearTimeout(timer);
        unsubscribeLookup();
        subscription.unsubscribe();
      };
    });
}

/** A final (decoded, string) label's value; undefined when absent, empty or still pending. */
function stringLabel(labels: readonly LabelSlot[], name: string): string | undefined {
  for (const l of labels) {
    if (l.name !== name) continue;
    return typeof l.value === 'string' && l.pending.length === 0 && l.value !== '' ? l.value : undefined;
  }
  return undefined;
}

type Row = readonly LabelSlot[];

/** A label set with its pod's labels, kept per label set while its pod's match is the same. */
const labelledMemo = new WeakMap<
  Row,
  {
    readonly match: PodMatch['pod'];
    readonly container: string | undefined;
    readonly histogram: boolean;
    readonly out: Row;
  }
>();

function labelled(labels: Row, match: PodMatch, histogram: boolean): Row {
  const known = labelledMemo.get(labels);
  if (
    known !== undefined &&
    known.match === match.pod &&
    known.container === match.containerName &&
    known.histogram === histogram
  )
    return known.out;
  const out = withPodLabels(labels, match, histogram);
  labelledMemo.set(labels, { match: match.pod, container: match.containerName, histogram, out });
  return out;
}

/**
 * Series tables (src/pipeline/README.md). The pod of each row is looked up every batch (a pod
 * may come, change or go between any two), but a row keeps its labelled output while its pod's
 * match is the same (a pod relabelled is a new match: exactly its rows change), and a family's
 * output table stays the same array while every row's output is the same; `added`/`removed`
 * are the rows new and gone since this family's previous output (held rows come and go too).
 */
class PodTables {
  private readonly last = new Map<
    string,
    { readonly rows: readonly Row[]; readonly take: Int32Array | undefined }
  >();

  family(source: string, f: RawFamily, c: RawColumns, decide: (row: Row) => Row | undefined): RawFamily {
    const key = `${source}\u0000${f.name}`;
    const before = this.last.get(key);
    const bRows = before?.rows;
    const bTake = before?.take;
    // While every output row equals the previous output's at the same place (from the same
    // input row), nothing is allocated; at the first difference the output is made from there.
    let j = 0;
    let out: Row[] | undefined;
    let take: number[] | undefined;
    let identity = true;
    const prefix = (): void => {
      out = bRows === undefined ? [] : bRows.slice(0, j);
      take = [];
      for (let k = 0; k < j; k++) take.push(bTake === undefined ? k : (bTake[k] as number));
    };
    for (let i = 0; i < c.rows.length; i++) {
      const row = c.rows[i] as Row;
      const o = decide(row);
      if (o !== row) identity = false;
      if (o === undefined) continue;
      if (out === undefined) {
        if (
          bRows !== undefined &&
          j < bRows.length &&
          bRows[j] === o &&
          (bTake === undefined ? j : bTake[j]) === i
        ) {
          j++;
          continue;
        }
        prefix();
      }
      (out as unknown as Row[]).push(o);
      (take as unknown as number[]).push(i);
      j++;
    }
    if (out === undefined && before !== undefined && j === before.rows.length) {
      if (before.rows === c.rows && c.added.length === 0 && c.removed.length === 0) return f;
      return this.emit(f, c, before.rows, before.take, NONE, NONE);
    }
    if (out === undefined) prefix();
    const made = out as unknown as Row[];
    const taken = take as unknown as number[];
    const rows = identity ? c.rows : made;
    const takeArr = taken.length === c.rows.length ? undefined : Int32Array.from(taken);
    this.last.set(key, { rows, take: takeArr });
    const { added, removed } = rowChanges(bRows ?? [], rows);
    if (rows === c.rows && sameDeltas(c, added, removed)) return f;
    return this.emit(f, c, rows, takeArr, added, removed);
  }

  private emit(
    f: RawFamily,
    c: RawColumns,
    rows: readonly Row[],
    take: Int32Array | undefined,
    added: readonly number[],
    removed: readonly Row[],
  ): RawFamily {
    return rawColumnsFamily(
      { name: f.name, help: f.help, kind: f.kind, histogram: f.histogram, startTimeMs: f.startTimeMs },
      { rows, values: takeValues(c.values, take), added, removed },
    );
  }
}

function sameDeltas(c: RawColumns, added: readonly number[], removed: readonly Row[]): boolean {
  if (c.added.length !== added.length || c.removed.length !== removed.length) return false;
  for (let i = 0; i < added.length; i++) if (c.added[i] !== added[i]) return false;
  const set = new Set(c.removed);
  return removed.every((r) => set.has(r));
}

function withPodLabels(row: Row, match: PodMatch, histogram: boolean): Row {
  const add: (readonly [string, string])[] = [...match.pod];
  if (match.containerName !== undefined) add.push(['k8s_container_name', match.containerName]);
  const labels = row.slice();
  const extra: LabelSlot[] = [];
  for (const [name, value] of add) {
    const at = labels.findIndex((l) => l.name === name);
    const slot: LabelSlot = { name, value, pending: [] };
    if (at >= 0) labels[at] = slot;
    else extra.push(slot);
  }
  // A histogram's last label is its bucket index: new labels go before it.
  const insertAt = histogram && labels.length > 0 ? labels.length - 1 : labels.length;
  labels.splice(insertAt, 0, ...extra);
  return labels;
}
