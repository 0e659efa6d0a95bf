import { map, type OperatorFunction } from 'rxjs';
import type { LabelSlot, MetricBatch, RawFamily, RawPoint } from '../../pipeline/data.ts';
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
      const out = labelFamily(f, from, extraFor);
      if (out !== f) changed = true;
      return out;
    });
    return changed ? { ...batch, families } : batch;
  });
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
