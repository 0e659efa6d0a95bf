/**
 * Checks for the `regexps:` of a decoder. They run as JS RegExps here (see
 * decoders/builtin.ts) and as Go RE2 in ebpf_exporter, so a pattern must compile in JS
 * and must not use what RE2 lacks (lookaround, backreferences): a definition file
 * stays portable between the two.
 */

export interface PatternProblem {
  readonly message: string;
  /** Character offset in the pattern the problem is at. */
  readonly offset: number;
}

/** The first problem of `source`, or undefined when it compiles and is RE2-compatible. */
export function checkPattern(source: string): PatternProblem | undefined {
  const scan = scanPattern(source);
  try {
    new RegExp(source);
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    // V8: "Invalid regular expression: /(a/: Unterminated group"
    const reason = text.replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, '');
    const named = /\b(?:at|position|offset)\s+(\d+)\b/.exec(reason);
    const offset = named ? Number(named[1]) : (scan.syntaxAt ?? 0);
    return { message: `does not compile: ${lowerFirst(reason)}`, offset: Math.min(offset, source.length) };
  }
  return scan.unsupported;
}

interface Scan {
  /** Where a JS syntax error most likely is (for errors V8 reports without an offset). */
  syntaxAt?: number;
  unsupported?: PatternProblem;
}

const RE2_LACKS = "which Go's RE2 syntax (ebpf_exporter) does not support";

/** One pass over the pattern in JS (non-unicode) syntax. */
function scanPattern(s: string): Scan {
  const out: Scan = {};
  const open: number[] = [];
  const flag = (offset: number, what: string): void => {
    out.unsupported ??= { offset, message: `uses ${what}, ${RE2_LACKS}` };
  };
  const syntax = (offset: number): void => {
    out.syntaxAt ??= offset;
  };
  /** Whether the last token can take a quantifier; 'quantified' after one (a lazy `?` may follow). */
  let atom: 'none' | 'atom' | 'quantified' | 'lazy' = 'none';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (ch === '\\') {
      const next = s[i + 1];
      if (next !== undefined && /[1-9]/.test(next)) flag(i, `the backreference \\${next}`);
      else if (next === 'k' && s[i + 2] === '<') flag(i, 'the named backreference \\k<…>');
      i++;
      atom = 'atom';
      continue;
    }
    if (ch === '[') {
      let j = i + 1;
      if (s[j] === '^') j++;
      while (j < s.length && s[j] !== ']') j += s[j] === '\\' ? 2 : 1;
      if (j >= s.length) syntax(i);
      i = j;
      atom = 'atom';
      continue;
    }
    if (ch === '(') {
      open.push(i);
      const head = s.slice(i + 1, i + 4);
      if (head.startsWith('?=')) flag(i, 'the lookahead (?=…)');
      else if (head.startsWith('?!')) flag(i, 'the negative lookahead (?!…)');
      else if (head.startsWith('?<=')) flag(i, 'the lookbehind (?<=…)');
      else if (head.startsWith('?<!')) flag(i, 'the negative lookbehind (?<!…)');
      atom = 'none';
      if (s[i + 1] === '?') i++; // `(?` is not a quantifier
      continue;
    }
    if (ch === ')') {
      if (open.pop() === undefined) syntax(i);
      atom = 'atom';
      continue;
    }
    if (ch === '|') {
      atom = 'none';
      continue;
    }
    if (ch === '*' || ch === '+' || ch === '?' || (ch === '{' && /^\{\d+(,\d*)?\}/.test(s.slice(i)))) {
      const range = ch === '{' ? /^\{(\d+),(\d+)\}/.exec(s.slice(i)) : null;
      if (range && Number(range[1]) > Number(range[2])) syntax(i);
      // RE2 refuses a repeat count above 1000 (and V8 would build a huge matcher for one).
      const counts = ch === '{' ? (/^\{(\d+)(?:,(\d*))?\}/.exec(s.slice(i)) ?? []) : [];
      if (counts.slice(1).some((c) => c !== undefined && c !== '' && Number(c) > 1000))
        out.unsupported ??= { offset: i, message: `repeats more than 1000 times, ${RE2_LACKS}` };
      if (ch === '?' && atom === 'quantified') atom = 'lazy';
      else if (atom === 'atom') atom = 'quantified';
      else syntax(i);
      if (ch === '{') i = s.indexOf('}', i);
      continue;
    }
    atom = ch === '^' || ch === '$' ? 'none' : 'atom';
  }
  const unclosed = open.pop();
  if (unclosed !== undefined) syntax(unclosed);
  return out;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
