import { Observable, type OperatorFunction } from 'rxjs';
import type { LabelSlot, MetricBatch, RawFamily, RawPoint } from '../../pipeline/data.ts';
import type { PodMatch } from './pod-index.ts';

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

      const process = (batch: MetricBatch): MetricBatch => {
        const t = now();
        const available = lookup.available();
        const expired: string[] = [];
        const overflow: string[] = [];
        let degraded = 0;
        let holding = false;
        const families = batch.families.map((f): RawFamily => {
          let changed = false;
          const points: RawPoint[] = [];
          for (const p of f.points) {
            const uid = stringLabel(p.labels, options.podUidLabel);
            const cid = stringLabel(p.labels, options.containerIdLabel);
            const key = uid ?? cid;
            if (key === undefined) {
              points.push(p);
              continue;
            }
            const match = lookup.find(uid, cid);
            if (match) {
              pending.delete(key);
              points.push(withPodLabels(p, match, f.kind === 'histogram'));
              changed = true;
              continue;
            }
            if (!available) {
              degraded++;
              pending.delete(key);
              points.push(p);
              continue;
            }
            if (released.has(key) || lookup.forgotten?.(uid, cid) === true) {
              pending.delete(key);
              points.push(p);
              continue;
            }
            let since = pending.get(key);
            if (since === undefined) {
              if (pending.size >= options.maxPending) {
                release(key);
                overflow.push(key);
                points.push(p);
                continue;
              }
              since = t;
              pending.set(key, t);
            }
            if (t - since >= options.pendingTimeoutMs) {
              release(key);
              expired.push(key);
              points.push(p);
              continue;
            }
            holding = true;
            changed = true;
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

function withPodLabels(p: RawPoint, match: PodMatch, histogram: boolean): RawPoint {
  const add: (readonly [string, string])[] = [...match.pod];
  if (match.containerName !== undefined) add.push(['k8s_container_name', match.containerName]);
  const labels = p.labels.slice();
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
  return { labels, value: p.value };
}
