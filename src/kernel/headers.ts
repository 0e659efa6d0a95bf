/**
 * Just enough of a C preprocessor to read the kernel's uapi headers that
 * define numbers: `#define NAME value` lines under `#if` / `#ifdef` /
 * `#ifndef` / `#elif` / `#else` / `#endif`, with `defined(X)`, `!`, `&&`,
 * `||`, comparisons and integer literals in conditions. `#include` is not
 * followed: the caller predefines what included headers would have set
 * (e.g. `__BITS_PER_LONG`). Function-like macros are ignored.
 */

export type Macros = Map<string, string>;

/** Run the preprocessor over `text`, starting from `predefined`; returns every object-like macro defined. */
export function preprocess(text: string, predefined: Readonly<Record<string, string>> = {}): Macros {
  const macros: Macros = new Map(Object.entries(predefined));
  // Each frame: is this branch live, has any branch of this #if been taken, was the parent live.
  const stack: { live: boolean; taken: boolean; parentLive: boolean }[] = [];
  const live = (): boolean =>
    stack.length === 0 ? true : (stack[stack.length - 1] as { live: boolean }).live;

  for (const rawLine of joinContinuations(stripComments(text))) {
    const m = /^\s*#\s*(\w+)\s*(.*)$/.exec(rawLine);
    if (!m) continue;
    const directive = m[1] as string;
    const rest = (m[2] as string).trim();
    switch (directive) {
      case 'if':
      case 'ifdef':
      case 'ifndef': {
        const parentLive = live();
        let cond = false;
        if (parentLive) {
          if (directive === 'ifdef') cond = macros.has(firstWord(rest));
          else if (directive === 'ifndef') cond = !macros.has(firstWord(rest));
          else cond = evaluate(rest, macros) !== 0n;
        }
        stack.push({ live: parentLive && cond, taken: cond, parentLive });
        break;
      }
      case 'elif': {
        const top = stack[stack.length - 1];
        if (!top) throw new Error('#elif without #if');
        const cond = top.parentLive && !top.taken && evaluate(rest, macros) !== 0n;
        top.live = cond;
        top.taken ||= cond;
        break;
      }
      case 'else': {
        const top = stack[stack.length - 1];
        if (!top) throw new Error('#else without #if');
        top.live = top.parentLive && !top.taken;
        top.taken = true;
        break;
      }
      case 'endif':
        if (!stack.pop()) throw new Error('#endif without #if');
        break;
      case 'define': {
        if (!live()) break;
        const d = /^(\w+)(\(?)\s*(.*)$/.exec(rest);
        if (d && d[2] === '') macros.set(d[1] as string, (d[3] as string).trim());
        break;
      }
      case 'undef':
        if (live()) macros.delete(firstWord(rest));
        break;
      default:
        break; // #include, #error (only in dead branches here), #pragma
    }
  }
  if (stack.length > 0) throw new Error('unterminated #if');
  return macros;
}

/** The integer value of a macro after expanding references to other macros; undefined if it is not an integer expression. */
export function macroValue(name: string, macros: Macros): bigint | undefined {
  const body = macros.get(name);
  if (body === undefined) return undefined;
  try {
    return evaluate(body, macros, new Set([name]), false);
  } catch {
    return undefined;
  }
}

function firstWord(s: string): string {
  return /^\w+/.exec(s)?.[0] ?? '';
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '');
}

function joinContinuations(text: string): string[] {
  return text.replace(/\\\n/g, ' ').split('\n');
}

type Token = { kind: 'num'; value: bigint } | { kind: 'id'; name: string } | { kind: 'op'; op: string };

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  const re =
    /\s*(?:(0[xX][0-9a-fA-F]+|[0-9]+)[uUlL]*|([A-Za-z_]\w*)|(&&|\|\||==|!=|<=|>=|<<|>>|[-+*/%()<>!~&|^]))/y;
  let pos = 0;
  while (pos < expr.length) {
    if (/^\s*$/.test(expr.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(expr);
    if (!m) throw new Error(`cannot parse ${JSON.stringify(expr)} at ${pos}`);
    pos = re.lastIndex;
    if (m[1] !== undefined) tokens.push({ kind: 'num', value: BigInt(m[1]) });
    else if (m[2] !== undefined) tokens.push({ kind: 'id', name: m[2] });
    else tokens.push({ kind: 'op', op: m[3] as string });
  }
  return tokens;
}

/**
 * Evaluate a preprocessor expression. In `#if` context (`undefinedIsZero`) an
 * unknown identifier is 0, as in C; when resolving a macro's value it is an error.
 */
function evaluate(
  expr: string,
  macros: Macros,
  expanding = new Set<string>(),
  undefinedIsZero = true,
): bigint {
  const tokens = tokenize(expr);
  let i = 0;
  const peek = (): Token | undefined => tokens[i];
  const isOp = (op: string): boolean => {
    const t = peek();
    return t?.kind === 'op' && t.op === op;
  };
  const expect = (op: string): void => {
    if (!isOp(op)) throw new Error(`expected ${op} in ${JSON.stringify(expr)}`);
    i++;
  };
  const b = (x: boolean): bigint => (x ? 1n : 0n);

  const primary = (): bigint => {
    const t = tokens[i++];
    if (!t) throw new Error(`unexpected end of ${JSON.stringify(expr)}`);
    if (t.kind === 'num') return t.value;
    if (t.kind === 'op') {
      if (t.op === '(') {
        const v = or();
        expect(')');
        return v;
      }
      if (t.op === '!') return b(primary() === 0n);
      if (t.op === '-') return -primary();
      if (t.op === '+') return primary();
      if (t.op === '~') return ~primary();
      throw new Error(`unexpected ${t.op} in ${JSON.stringify(expr)}`);
    }
    if (t.name === 'defined') {
      const paren = isOp('(');
      if (paren) i++;
      const id = tokens[i++];
      if (id?.kind !== 'id') throw new Error(`defined needs a name in ${JSON.stringify(expr)}`);
      if (paren) expect(')');
      return b(macros.has(id.name));
    }
    const body = macros.get(t.name);
    if (body === undefined || expanding.has(t.name)) {
      if (undefinedIsZero) return 0n;
      throw new Error(`${t.name} is not defined`);
    }
    return evaluate(body === '' ? '0' : body, macros, new Set([...expanding, t.name]), undefinedIsZero);
  };
  const binary =
    (next: () => bigint, ops: Record<string, (a: bigint, c: bigint) => bigint>) => (): bigint => {
      let v = next();
      for (;;) {
        const t = peek();
        const f = t?.kind === 'op' ? ops[t.op] : undefined;
        if (!f) return v;
        i++;
        v = f(v, next());
      }
    };
  const mul = binary(primary, { '*': (a, c) => a * c, '/': (a, c) => a / c, '%': (a, c) => a % c });
  const add = binary(mul, { '+': (a, c) => a + c, '-': (a, c) => a - c });
  const shift = binary(add, { '<<': (a, c) => a << c, '>>': (a, c) => a >> c });
  const rel = binary(shift, {
    '<': (a, c) => b(a < c),
    '>': (a, c) => b(a > c),
    '<=': (a, c) => b(a <= c),
    '>=': (a, c) => b(a >= c),
  });
  const eq = binary(rel, { '==': (a, c) => b(a === c), '!=': (a, c) => b(a !== c) });
  const band = binary(eq, { '&': (a, c) => a & c });
  const bxor = binary(band, { '^': (a, c) => a ^ c });
  const bor = binary(bxor, { '|': (a, c) => a | c });
  const and = binary(bor, { '&&': (a, c) => b(a !== 0n && c !== 0n) });
  const or = binary(and, { '||': (a, c) => b(a !== 0n || c !== 0n) });

  const v = or();
  if (i !== tokens.length) throw new Error(`trailing tokens in ${JSON.stringify(expr)}`);
  return v;
}
