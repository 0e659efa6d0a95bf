import { createHash } from 'node:crypto';

/**
 * What the attributes and resource processors share: the collector's
 * insert / update / upsert rules over a key → value map, and its hash.
 */
export type SetAction = 'insert' | 'update' | 'upsert';

export function isSetAction(action: string): action is SetAction {
  return action === 'insert' || action === 'update' || action === 'upsert';
}

/**
 * insert: set `key` only when absent; update: only when present; upsert: always. The
 * new value is `value`, or the value of `fromAttribute` (nothing happens when that is absent).
 */
export function applySet(
  map: Map<string, string>,
  action: SetAction,
  key: string,
  value: string | undefined,
  fromAttribute: string | undefined,
): void {
  const present = map.has(key);
  if ((action === 'insert' && present) || (action === 'update' && !present)) return;
  const v = fromAttribute === undefined ? value : map.get(fromAttribute);
  if (v !== undefined) map.set(key, v);
}

/** The `hash` action's value: SHA-256 of the UTF-8 text, lowercase hex. */
export function hashValue(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}
