/**
 * Names and escapes of the exposition text, as @opentelemetry/exporter-prometheus's
 * PrometheusSerializer makes them (its quirks are listed in text.ts): label names sanitized,
 * help and label values escaped, a family's exposed name (cached per name).
 */

export type Kind = 'counter' | 'gauge' | 'histogram';

const INVALID = /[^a-z0-9_]/gi;
const UNDERSCORES = /_{2,}/g;
const NEEDS_ESCAPE = /[\\\n"]/;

export function sanitize(name: string): string {
  return name.replace(INVALID, '_').replace(UNDERSCORES, '_');
}

export function escapeString(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function escapeValue(v: string): string {
  return NEEDS_ESCAPE.test(v) ? escapeString(v).replace(/"/g, '\\"') : v;
}

/** The serializer's name for a family (an `asNamed` counter keeps its name), or undefined when it drops it. */
export function exposedName(name: string, kind: Kind, asNamed = false): string | undefined {
  let made = exposedNames.get(name);
  if (made === undefined) {
    let n = sanitize(escapeString(name));
    if (n === '' || n === '_') made = [undefined, undefined];
    else {
      const c = n.charCodeAt(0);
      if (c >= 48 && c <= 57) n = `_${n}`;
      made = [n, n.endsWith('_total') ? n : `${n}_total`];
    }
    if (exposedNames.size >= MAX_EXPOSED_NAMES) exposedNames.clear();
    exposedNames.set(name, made);
  }
  return made[kind === 'counter' && !asNamed ? 1 : 0];
}

/**
 * exposedName's results by name: as named, and as a counter's. Made again for every family of
 * every scrape; names come from configuration, the bound keeps changing names from growing it.
 */
const exposedNames = new Map<string, readonly [string | undefined, string | undefined]>();
const MAX_EXPOSED_NAMES = 10_000;
