/** Small text helpers shared by the config messages. */

/** `15 (number)`, `"abc" (string)`, `true (boolean)`, `null (empty value)`, `a list`, `a map`. */
export function describeInput(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null (empty value)';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string':
      return `${quote(v)} (string)`;
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${String(v)} (${typeof v})`;
    case 'object':
      return 'a map';
    default:
      return typeof v;
  }
}

/** A value as written in an enum message: strings quoted, others bare. */
export function showValue(v: unknown): string {
  if (typeof v === 'string') return quote(v);
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return typeof v;
}

/** JSON-quoted, cut to a readable length. */
export function quote(s: string, max = 60): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
}

/**
 * The closest candidate when it is close enough to be a likely typo: same text ignoring
 * case, or an edit distance (with transpositions) of at most 1 for short words, 2 up to
 * 6 characters, 3 beyond. Ties go to the earlier candidate.
 */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  const limit = input.length <= 3 ? 1 : input.length <= 6 ? 2 : 3;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    if (c === input) continue;
    const d = c.toLowerCase() === input.toLowerCase() ? 0 : editDistance(input, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= limit && bestD < Math.max(input.length, 1) ? best : undefined;
}

/** ` (did you mean "x"?)` or the empty string. */
export function suggestion(input: string, candidates: readonly string[]): string {
  const s = didYouMean(input, candidates);
  return s === undefined ? '' : ` (did you mean ${JSON.stringify(s)}?)`;
}

/** Optimal-string-alignment distance (Levenshtein plus adjacent transposition). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const m = a.length;
  const n = b.length;
  if (m === 0) return n;
  if (n === 0) return m;
  let prev2 = new Array<number>(n + 1).fill(0);
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  let cur = new Array<number>(n + 1).fill(0);
  for (let i = 1; i <= m; i++) {
    cur[0] = i;
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, (prev2[j - 2] as number) + 1);
      }
      cur[j] = v;
    }
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[n] as number;
}

/** `a, b, c` */
export function listOf(items: readonly unknown[]): string {
  return items.map((i) => String(i)).join(', ');
}
