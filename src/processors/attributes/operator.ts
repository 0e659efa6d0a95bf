import { applySet, hashValue } from '../../labels/actions.ts';
import { map, type OperatorFunction } from 'rxjs';
import type { MetricBatch } from '../../pipeline/data.ts';
import { METRIC_NAME_LABEL } from '../../labels/names.ts';
import { mapPoints, newCounts } from '../../labels/points.ts';
import { LabelTables } from '../../labels/tables.ts';
import type { CountsSink } from '../../labels/processor.ts';
import { compileAnchored, type AnchoredRegex } from '../../labels/regex.ts';
import type { AttributeAction, AttributeActionConfig } from './config.ts';

export interface CompiledAction {
  readonly action: AttributeAction;
  readonly key: string | undefined;
  readonly pattern: AnchoredRegex | undefined;
  readonly value: string | undefined;
  readonly fromAttribute: string | undefined;
}

/** Throws on an invalid regexp (the schema has already refused those). */
export function compileActions(actions: readonly AttributeActionConfig[]): CompiledAction[] {
  return actions.map((a) => ({
    action: a.action,
    key: a.key,
    pattern: a.pattern === undefined ? undefined : compileAnchored(a.pattern),
    value: a.value === undefined ? undefined : String(a.value),
    fromAttribute: a.from_attribute,
  }));
}

/** SHA-256 of the value's UTF-8 bytes, lowercase hex. */
export { hashValue };

/** Label names `a` applies to: its key (when present) and every name its pattern matches. */
function targets(a: CompiledAction, labels: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const name of labels.keys()) {
    if (name === METRIC_NAME_LABEL) continue;
    if (name === a.key || a.pattern?.test(name)) out.push(name);
  }
  return out;
}

/**
 * Apply `actions` in order to `labels` (which also holds `__name__`, never touched):
 *   insert: set `key` only when absent; update: only when present; upsert: always.
 *   The new value is `value`, or the value of `from_attribute` (nothing happens when that
 *   label is absent). delete: remove; hash: replace the value by its SHA-256 hex.
 */
export function applyActions(labels: Map<string, string>, actions: readonly CompiledAction[]): void {
  for (const a of actions) {
    switch (a.action) {
      case 'insert':
      case 'update':
      case 'upsert':
        applySet(labels, a.action, a.key as string, a.value, a.fromAttribute);
        break;
      case 'delete':
        for (const name of targets(a, labels)) labels.delete(name);
        break;
      case 'hash':
        for (const name of targets(a, labels)) labels.set(name, hashValue(labels.get(name) as string));
        break;
    }
  }
}

/** The attributes operator: each point with final labels goes through `actions`. */
export function attributes(
  actions: readonly CompiledAction[],
  sink: CountsSink,
): OperatorFunction<MetricBatch, MetricBatch> {
  const fn = (labels: Map<string, string>): boolean => {
    applyActions(labels, actions);
    return true;
  };
  const tables = new LabelTables(fn);
  return map((batch) => {
    const counts = newCounts();
    const out = mapPoints(batch, fn, counts, tables);
    sink(batch, counts);
    return out;
  });
}
