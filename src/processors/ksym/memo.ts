import { map, type OperatorFunction } from 'rxjs';
import type { LabelSlot, MetricBatch, RawFamily, RawPoint } from '../../pipeline/data.ts';
import { SKIP, resumeChain, type DecoderRegistry, type Skip } from '../../decoders/decoder.ts';
import type { ResumeStats } from '../../decoders/resume.ts';

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
}

/**
 * resumeDecoders (src/decoders/resume.ts) with the result of each label set remembered by
 * the identity of its slot array. The reader hands out the same (immutable) slot array for
 * a map key on every read, so a key is decoded once, not once per scrape; the arrays made
 * here are immutable too and are handed out again, so the next stages can remember by
 * identity in turn. Kept in a WeakMap: an entry lives as long as the reader keeps the key.
 * Decode errors are not remembered (they are counted on every batch, as before).
 */
export class ChainMemo {
  private readonly registry: DecoderRegistry;
  private readonly source: MemoSource;
  private memo = new WeakMap<readonly LabelSlot[], readonly LabelSlot[] | Skip>();
  private generation: number | undefined;
  /** Label sets decoded (not served from memory), for tests. */
  decoded = 0;

  constructor(registry: DecoderRegistry, source: MemoSource) {
    this.registry = registry;
    this.source = source;
  }

  /** Forget every remembered result. */
  clear(): void {
    this.memo = new WeakMap();
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
    if (
      !f.points.some((p) =>
        p.labels.some((l) => l.pending.length > 0 && registry.has((l.pending[0] as { name: string }).name)),
      )
    ) {
      return f;
    }
    const generation = this.source.generation();
    if (generation !== this.generation) {
      if (this.generation !== undefined) this.memo = new WeakMap();
      this.generation = generation;
    }
    const memo = this.memo;
    const points: RawPoint[] = [];
    for (const p of f.points) {
      let labels = memo.get(p.labels);
      if (labels === undefined) {
        this.source.volatile = false;
        try {
          labels = this.resume(p.labels);
        } catch (err) {
          stats.decodeErrors++;
          stats.lastError = err instanceof Error ? err.message : String(err);
          continue;
        }
        this.decoded++;
        if (!this.source.volatile) memo.set(p.labels, labels);
      }
      if (labels !== SKIP) points.push(labels === p.labels ? p : { labels, value: p.value });
    }
    return { ...f, points };
  }

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
