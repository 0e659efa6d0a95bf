import { map, type OperatorFunction } from 'rxjs';
import type { LabelSlot, MetricBatch, RawFamily, RawPoint } from '../pipeline/data.ts';
import { SKIP, resumeChain, type DecoderRegistry } from './decoder.ts';

export interface ResumeStats {
  decodeErrors: number;
  lastError?: string;
}

/**
 * Resume every label chain whose next decoder the registry supplies. A
 * failing key is dropped and counted; the rest of the batch goes on. Points
 * with nothing pending pass through untouched (no copy).
 */
export function resumeDecoders(
  registry: DecoderRegistry,
  onErrors: (source: string, config: string, stats: ResumeStats) => void,
): OperatorFunction<MetricBatch, MetricBatch> {
  return map((batch) => {
    const stats: ResumeStats = { decodeErrors: 0 };
    const families = batch.families.map((f) => resumeFamily(f, registry, stats));
    if (stats.decodeErrors > 0) onErrors(batch.source, batch.config, stats);
    return { ...batch, families };
  });
}

/**
 * Series tables (src/pipeline/README.md) that no label of which waits for a decoder of the
 * registry, by the identity of their rows (per registry): passed on without their points.
 */
const untouched = new WeakMap<DecoderRegistry, WeakSet<object>>();

function needs(labels: readonly LabelSlot[], registry: DecoderRegistry): boolean {
  return labels.some((l) => l.pending.length > 0 && registry.has((l.pending[0] as { name: string }).name));
}

function resumeFamily(f: RawFamily, registry: DecoderRegistry, stats: ResumeStats): RawFamily {
  const rows = f.columns?.rows;
  if (rows !== undefined) {
    let passed = untouched.get(registry);
    if (passed?.has(rows)) return f;
    if (!rows.some((labels) => needs(labels, registry))) {
      if (passed === undefined) untouched.set(registry, (passed = new WeakSet()));
      passed.add(rows);
      return f;
    }
    // A table whose labels this registry decodes: decoded per batch through its points, as
    // before (the decoder's answers may change from batch to batch).
  } else if (!f.points.some((p) => needs(p.labels, registry))) {
    return f;
  }
  const points: RawPoint[] = [];
  for (const p of f.points) {
    let labels: LabelSlot[] | undefined;
    try {
      labels = resumeLabels(p.labels, registry);
    } catch (err) {
      stats.decodeErrors++;
      stats.lastError = err instanceof Error ? err.message : String(err);
      continue;
    }
    if (labels) points.push(labels === p.labels ? p : { labels, value: p.value });
  }
  return { ...f, points };
}

function resumeLabels(labels: readonly LabelSlot[], registry: DecoderRegistry): LabelSlot[] | undefined {
  let out: LabelSlot[] | undefined;
  for (let i = 0; i < labels.length; i++) {
    const slot = labels[i] as LabelSlot;
    if (slot.pending.length === 0) continue;
    const next = resumeChain(slot, registry);
    if (next === SKIP) return undefined;
    if (next !== slot) {
      out ??= labels.slice();
      out[i] = next;
    }
  }
  return out ?? (labels as LabelSlot[]);
}
