/** Values of the helm-template subset: merging, Go template truth, printing, and `.Files`. */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type Value = unknown;
export type Scope = Map<string, Value>;

export function isMap(v: Value): v is Record<string, Value> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof ChartFiles);
}

export function mergeValues(base: Value, over: Value): Value {
  if (!isMap(base) || !isMap(over)) return over;
  const out: Record<string, Value> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? mergeValues(base[k], v) : v;
  return out;
}

/** Go template truth: false, 0, nil, and empty strings, lists and maps are false. */
export function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}

export function print(v: Value): string {
  if (v === undefined || v === null) return ''; // helm prints a missing value as ""
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(print).join(' ')}]`;
  if (isMap(v))
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${print(v[k])}`)
      .join(' ')}]`;
  return '';
}

export class ChartFiles {
  private readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }
  Get(path: string): string {
    return readFileSync(join(this.dir, path), 'utf8');
  }
  /** Files matching a pattern with one `*` in the last path segment: path → content. */
  Glob(pattern: string): Record<string, string> {
    const slash = pattern.lastIndexOf('/');
    const dir = slash < 0 ? '' : pattern.slice(0, slash);
    const re = new RegExp(
      `^${pattern
        .slice(slash + 1)
        .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')}$`,
    );
    let names: string[];
    try {
      names = readdirSync(join(this.dir, dir));
    } catch {
      return {};
    }
    const out: Record<string, string> = {};
    for (const n of names.sort()) {
      const p = dir === '' ? n : `${dir}/${n}`;
      if (re.test(n) && statSync(join(this.dir, p)).isFile()) out[p] = this.Get(p);
    }
    return out;
  }
}

export function fail(message: string): never {
  throw new Error(message);
}
