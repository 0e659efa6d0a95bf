/** Paths into config data, the position tree beside it, and the merge of several files. */
import type { Position } from '../errors.ts';

export type PathSegment = string | number;
export type ConfigPath = readonly PathSegment[];

/** Position tree parallel to the data. */
export interface PosNode {
  key?: Position | undefined;
  value: Position;
  /** Column of the string value's first character, when the source shows it verbatim. */
  textCol?: number | undefined;
  children?: Map<PathSegment, PosNode>;
}

export interface Loaded {
  value: unknown;
  pos: PosNode;
}

// ---------------------------------------------------------------------------------------
// Merge

export function isPlainMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function merge(a: Loaded, b: Loaded): Loaded {
  if (!isPlainMap(a.value) || !isPlainMap(b.value)) return b;
  const obj: Record<string, unknown> = {};
  const children = new Map<PathSegment, PosNode>(a.pos.children ?? []);
  for (const [k, v] of Object.entries(a.value)) {
    Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  for (const [k, v] of Object.entries(b.value)) {
    const bPos = b.pos.children?.get(k) ?? { value: b.pos.value };
    let r: Loaded = { value: v, pos: bPos };
    if (Object.hasOwn(obj, k)) {
      const aPos = children.get(k) ?? { value: a.pos.value };
      r = merge({ value: obj[k], pos: aPos }, r);
      r = { value: r.value, pos: { ...r.pos, key: bPos.key ?? aPos.key } };
    }
    Object.defineProperty(obj, k, { value: r.value, enumerable: true, writable: true, configurable: true });
    children.set(k, r.pos);
  }
  return { value: obj, pos: { key: b.pos.key ?? a.pos.key, value: b.pos.value, children } };
}

/** The value at `path` in plain data, or undefined. */
export function valueAt(root: unknown, path: ConfigPath): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (Array.isArray(v) && typeof seg === 'number') v = v[seg];
    else if (isPlainMap(v) && Object.hasOwn(v, String(seg))) v = v[String(seg)];
    else return undefined;
  }
  return v;
}

/** `a.b[0].c` — map keys joined with `.`, list indexes in brackets. */
export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

export function kindOf(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return typeof v === 'string'
    ? 'a string'
    : typeof v === 'number'
      ? 'a number'
      : typeof v === 'boolean'
        ? 'a boolean'
        : typeof v;
}
