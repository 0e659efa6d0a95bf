import type { RegexMatch } from './regex.ts';

/**
 * Expand a replacement template against a match, as Go's `Regexp.ExpandString` does
 * (what Prometheus relabeling uses): `$1`, `${1}`, `$name`, `${name}`; `$$` is a `$`.
 * A name is the longest run of letters, digits and `_`, so `$1x` is the group named
 * `1x` (empty), not group 1 then `x`. Unknown or non-participating groups expand to
 * "". A `$` not followed by a valid reference is kept as text.
 */
export function expandTemplate(template: string, match: RegexMatch): string {
  let out = '';
  let rest = template;
  for (;;) {
    const at = rest.indexOf('$');
    if (at < 0) break;
    out += rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (rest.startsWith('$')) {
      out += '$';
      rest = rest.slice(1);
      continue;
    }
    const ref = parseReference(rest);
    if (!ref) {
      out += '$';
      continue;
    }
    rest = rest.slice(ref.length);
    const index = ref.num >= 0 ? ref.num : match.names[ref.name];
    if (index !== undefined) out += match.groups[index] ?? '';
  }
  return out + rest;
}

const NAME_CHAR = /[\p{L}\p{Nd}_]/u;

interface Reference {
  readonly name: string;
  /** Group number, or -1 when the name is not a plain number (no leading zero). */
  readonly num: number;
  /** Characters consumed after the `$`. */
  readonly length: number;
}

function parseReference(text: string): Reference | undefined {
  const brace = text.startsWith('{');
  let i = brace ? 1 : 0;
  let name = '';
  for (const ch of text.slice(i)) {
    if (!NAME_CHAR.test(ch)) break;
    name += ch;
  }
  if (name === '') return undefined;
  i += name.length;
  if (brace) {
    if (text[i] !== '}') return undefined;
    i++;
  }
  const num = /^(0|[1-9]\d{0,8})$/.test(name) ? Number(name) : -1;
  return { name, num, length: i };
}

/** True when `template` holds a `$` reference (Prometheus's fast path checks this). */
export function hasReference(template: string): boolean {
  return template.includes('$');
}
