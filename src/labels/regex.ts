import { createRequire } from 'node:module';
import type { RE2JS as RE2JSClass } from 're2js';

let re2js: typeof RE2JSClass | undefined;

/**
 * re2js, loaded at the first compile (its CommonJS build, synchronously): an agent whose
 * config has no regexp never loads it (~0.7 MB of heap and 260 KB of source). Every user
 * of re2js takes it from here, so one copy loads.
 */
export function re2(): typeof RE2JSClass {
  return (re2js ??= (createRequire(import.meta.url)('re2js') as { RE2JS: typeof RE2JSClass }).RE2JS);
}

/**
 * A user regexp compiled as RE2 (Go semantics, linear time), fully anchored the way
 * Prometheus 3 anchors relabel regexps: `^(?s:<pattern>)$`. So `.` also matches a
 * newline, and `foo` matches only the whole value `foo` (write `.*foo.*` to search).
 */
export interface AnchoredRegex {
  /** The pattern as the user wrote it. */
  readonly source: string;
  /** Whole-value match. */
  test(value: string): boolean;
  /** Whole-value match with its groups (index 0 is the whole value), or undefined. */
  exec(value: string): RegexMatch | undefined;
}

export interface RegexMatch {
  /** Group texts by index; undefined for a group that did not take part. */
  readonly groups: readonly (string | undefined)[];
  /** Group index by name (`(?P<name>…)`). */
  readonly names: Readonly<Record<string, number>>;
}

/** Compile `pattern` anchored; throws (with RE2's message) when it is not valid RE2. */
export function compileAnchored(pattern: string): AnchoredRegex {
  const re = re2().compile(`^(?s:${pattern})$`);
  const names: Record<string, number> = { ...re.namedGroups() };
  const count = re.groupCount();
  return {
    source: pattern,
    test: (value) => re.matches(value),
    exec: (value) => {
      const m = re.matcher(value);
      if (!m.matches()) return undefined;
      const groups: (string | undefined)[] = [];
      for (let i = 0; i <= count; i++) groups.push(m.group(i) ?? undefined);
      return { groups, names };
    },
  };
}

export interface RegexProblem {
  readonly message: string;
  /** Offset in `pattern` of the construct RE2 refused, when it can be found. */
  readonly offset?: number | undefined;
}

const PREFIX = '^(?s:';
const LOOKAROUND = /\(\?<?[=!]/;
const BACKREF = /\\(?:[1-9]|k<)/;

/** Why `pattern` is not a valid RE2 regexp, or undefined when it is. */
export function regexProblem(pattern: string): RegexProblem | undefined {
  try {
    compileAnchored(pattern);
    return undefined;
  } catch (err) {
    const raw = (err instanceof Error ? err.message : String(err)).replace(/^error parsing regexp: /, '');
    const look = LOOKAROUND.exec(pattern);
    if (look) {
      return { message: `RE2 has no lookahead or lookbehind (${look[0]}…)`, offset: look.index };
    }
    const back = BACKREF.exec(pattern);
    if (back) return { message: `RE2 has no backreferences (${back[0]})`, offset: back.index };
    // RE2 quotes the offending text of the wrapped pattern: `(?=…)$`. Point at it, and
    // quote only the user's part.
    const quoted = /`([^`]*)`/.exec(raw);
    if (!quoted) return { message: raw };
    const wrapped = `${PREFIX}${pattern})$`;
    const at = wrapped.indexOf(quoted[1] as string);
    const start = Math.max(at, PREFIX.length);
    const end = Math.min(at + (quoted[1] as string).length, PREFIX.length + pattern.length);
    if (at < 0 || start >= end) return { message: raw };
    const own = wrapped.slice(start, end);
    return { message: raw.replace(quoted[0], `\`${own}\``), offset: start - PREFIX.length };
  }
}
