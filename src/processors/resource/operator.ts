import { applySet, hashValue } from '../../labels/actions.ts';
import { map, type OperatorFunction } from 'rxjs';
import type { LogBatch, MetricBatch, SpanBatch } from '../../pipeline/data.ts';
import type { ResourceAction, ResourceActionConfig } from './config.ts';

export interface CompiledResourceAction {
  readonly action: ResourceAction;
  readonly key: string;
  readonly value: string | undefined;
  readonly fromAttribute: string | undefined;
}

export function compileResourceActions(actions: readonly ResourceActionConfig[]): CompiledResourceAction[] {
  return actions.map((a) => ({
    action: a.action,
    key: a.key,
    value: a.value === undefined ? undefined : String(a.value),
    fromAttribute: a.from_attribute,
  }));
}

/** SHA-256 of the value's UTF-8 bytes, lowercase hex (as the attributes processor hashes). */
/**
 * Apply `actions` in order to `attributes`:
 *   insert: set `key` only when absent; update: only when present; upsert: always.
 *   The new value is `value`, or the value of `from_attribute` (nothing happens when that
 *   attribute is absent). delete: remove `key`; hash: replace its value by its SHA-256 hex.
 */
export function applyResourceActions(
  attributes: Map<string, string>,
  actions: readonly CompiledResourceAction[],
): void {
  for (const a of actions) {
    const present = attributes.has(a.key);
    switch (a.action) {
      case 'insert':
      case 'update':
      case 'upsert':
        applySet(attributes, a.action, a.key, a.value, a.fromAttribute);
        break;
      case 'delete':
        attributes.delete(a.key);
        break;
      case 'hash':
        if (present) attributes.set(a.key, hashValue(attributes.get(a.key) as string));
        break;
    }
  }
}

/**
 * The resource operator (for metric, span and log batches alike): each batch gets its resource attributes rewritten by `actions`
 * (families and points, series tables too, are passed by identity). A batch whose resource ends up empty has
 * none (`resource` absent), so exporters treat it as one that never had any.
 */
export function resource<B extends MetricBatch | SpanBatch | LogBatch = MetricBatch>(
  actions: readonly CompiledResourceAction[],
): OperatorFunction<B, B> {
  // Pure given the actions: the output of the last input resource (by identity) is kept, so
  // a receiver's unchanging resource is rewritten once and the same object handed on.
  let lastIn: Readonly<Record<string, string>> | undefined | null = null;
  let lastOut: Readonly<Record<string, string>> | undefined;
  return map((batch) => {
    if (batch.resource !== lastIn || lastIn === null) {
      const attributes = new Map(Object.entries(batch.resource ?? {}));
      applyResourceActions(attributes, actions);
      lastIn = batch.resource;
      lastOut = attributes.size === 0 ? undefined : Object.fromEntries(attributes);
    }
    const { resource: _old, ...rest } = batch;
    return (lastOut === undefined ? rest : { ...rest, resource: lastOut }) as B;
  });
}
