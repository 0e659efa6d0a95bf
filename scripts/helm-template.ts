/**
 * `helm template` for the subset of Go templates our chart (deploy/helm/ebpf-collector) uses, so
 * the chart can be rendered and checked on a machine without a helm binary. It is not Helm: the
 * chart must stay inside this subset (test/deploy checks that every template renders).
 *
 * The subset:
 *   - text and actions `{{ … }}`, with `{{-` / `-}}` trimming whitespace (newlines included);
 *     comments `{{/* … *\/}}`;
 *   - `define "name"` … `end`, `include "name" ARG`, `template "name" ARG`;
 *   - `if` / `else if` / `else` / `end`, `with` / `else` / `end`, `range X` and
 *     `range $k, $v := X` (lists in order, maps by sorted key) with `end`;
 *   - pipelines `a | f b`; operands `.`, `$`, `.Values.a.b`, `$.Values.x`, `$var.x`, `(…)`,
 *     strings, numbers, true/false/nil; variables `$x := …` and `$x = …`;
 *   - functions: include, toYaml, toJson, nindent, indent, quote, squote, default, required,
 *     empty, not, and, or, eq, ne, lt, gt, printf (%s %d %v %q), print, trunc, trimSuffix,
 *     lower, upper, replace, sha256sum, list, dict, hasKey, keys, concat, int;
 *   - objects: `.Values`, `.Release.Name/Namespace/Service/IsInstall`, `.Chart.Name/Version/AppVersion`
 *     (from Chart.yaml), `.Files.Get PATH`, `.Files.Glob PATTERN` (a map path → content).
 *
 * Values: values.yaml, then each override merged over it (maps deep-merge, the rest replaced).
 * Output: every template not starting with `_`, split into YAML documents on `---`.
 *
 *   node scripts/helm-template.ts CHART_DIR [-f values.yaml]… [--release NAME] [--namespace NS]
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';

export interface RenderOptions {
  readonly releaseName?: string;
  readonly namespace?: string;
  /** Value overrides merged over values.yaml, in order (helm's `-f`). */
  readonly values?: readonly Record<string, unknown>[];
}

export interface RenderedFile {
  /** Template path relative to the chart, e.g. `templates/daemonset.yaml`. */
  readonly template: string;
  /** The YAML documents it produced (empty ones dropped). */
  readonly documents: readonly Record<string, unknown>[];
}

/** Render a chart directory as `helm template` would, within the subset above. */
export function renderChart(chartDir: string, opts: RenderOptions = {}): RenderedFile[] {
  const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  let values = (parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) ?? {}) as Value;
  for (const v of opts.values ?? []) values = mergeValues(values, v);
  const templatesDir = join(chartDir, 'templates');
  const files = readdirSync(templatesDir)
    .filter((f) => /\.(ya?ml|tpl)$/.test(f))
    .sort();
  const engine = new Engine();
  const parsed = files.map((f) => {
    const name = `templates/${f}`;
    return { name, nodes: engine.parse(readFileSync(join(templatesDir, f), 'utf8'), name) };
  });
  const root: Value = {
    Values: values,
    Release: {
      Name: opts.releaseName ?? 'ebpf-collector',
      Namespace: opts.namespace ?? 'default',
      Service: 'Helm',
      IsInstall: true,
    },
    Chart: { Name: chart['name'], Version: chart['version'], AppVersion: chart['appVersion'] },
    Files: new ChartFiles(chartDir),
  };
  const out: RenderedFile[] = [];
  for (const { name, nodes } of parsed) {
    if (name.startsWith('templates/_')) continue;
    const text = engine.run(nodes, root, name);
    const documents = parseAllDocuments(text).flatMap((d) => {
      if (d.errors.length > 0) throw new Error(`${name}: rendered YAML is invalid: ${d.errors[0]?.message}`);
      const v = d.toJS() as Record<string, unknown> | null | undefined;
      return v === null || v === undefined ? [] : [v];
    });
    out.push({ template: name, documents });
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Values

type Value = unknown;
type Scope = Map<string, Value>;

function isMap(v: Value): v is Record<string, Value> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof ChartFiles);
}

function mergeValues(base: Value, over: Value): Value {
  if (!isMap(base) || !isMap(over)) return over;
  const out: Record<string, Value> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? mergeValues(base[k], v) : v;
  return out;
}

/** Go template truth: false, 0, nil, and empty strings, lists and maps are false. */
function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}

function print(v: Value): string {
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

class ChartFiles {
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

// ---------------------------------------------------------------------------------------
// Parsing: text → nodes

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'out'; pipe: Pipe; at: string }
  | { kind: 'if'; branches: { cond: Pipe; body: Node[] }[]; otherwise: Node[]; at: string }
  | { kind: 'with'; value: Pipe; body: Node[]; otherwise: Node[]; at: string }
  | { kind: 'range'; vars: string[]; value: Pipe; body: Node[]; otherwise: Node[]; at: string }
  | { kind: 'template'; name: string; arg: Pipe | undefined; at: string };

/** `$x := …` / `$x = …` before the commands. */
interface Pipe {
  readonly decl?: { readonly name: string; readonly define: boolean };
  readonly commands: readonly Expr[][];
}

type Expr =
  /** base: `dot` (.), `root` ($) or a variable name such as `$name`. */
  | { kind: 'field'; base: string; path: string[] }
  | { kind: 'lit'; value: Value }
  | { kind: 'ident'; name: string }
  | { kind: 'paren'; pipe: Pipe };

interface Action {
  readonly words: string;
  readonly at: string;
}

/** Nodes up to a terminator (`end`, `else …`), which is undefined at the end of the text. */
interface Block {
  nodes: Node[];
  end?: Action;
}

class Engine {
  private readonly defines = new Map<string, Node[]>();

  parse(src: string, file: string): Node[] {
    const items = lex(src, file);
    let i = 0;
    const block = (terminators: readonly string[]): Block => {
      const nodes: Node[] = [];
      while (i < items.length) {
        const item = items[i++] as string | Action;
        if (typeof item === 'string') {
          if (item !== '') nodes.push({ kind: 'text', text: item });
          continue;
        }
        const w = item.words;
        const kw = /^(\w+)\b\s*(.*)$/s.exec(w);
        const head = kw?.[1];
        const rest = kw?.[2] ?? '';
        if (head !== undefined && terminators.includes(head)) return { nodes, end: item };
        if (w.startsWith('/*')) continue;
        switch (head) {
          case 'define': {
            const name = parseString(rest, item.at);
            const body = expectEnd(block(['end']), item, 'define');
            this.defines.set(name, body.nodes);
            break;
          }
          case 'if': {
            const branches = [{ cond: parsePipe(rest, item.at), body: [] as Node[] }];
            let otherwise: Node[] = [];
            for (;;) {
              const b = expectEnd(block(['else', 'end']), item, 'if');
              (branches[branches.length - 1] as { body: Node[] }).body = b.nodes;
              if (b.end.words === 'end') break;
              const elseRest = b.end.words.slice(4).trim();
              if (elseRest.startsWith('if ')) {
                branches.push({ cond: parsePipe(elseRest.slice(3), b.end.at), body: [] });
                continue;
              }
              otherwise = expectEnd(block(['end']), item, 'if').nodes;
              break;
            }
            nodes.push({ kind: 'if', branches, otherwise, at: item.at });
            break;
          }
          case 'with':
          case 'range': {
            let vars: string[] = [];
            let expr = rest;
            const decl = /^(\$\w*)\s*(?:,\s*(\$\w*)\s*)?:=\s*(.*)$/s.exec(rest);
            if (decl && head === 'range') {
              vars = [decl[1] as string, ...(decl[2] ? [decl[2]] : [])];
              expr = decl[3] as string;
            }
            const b = expectEnd(block(['else', 'end']), item, head);
            const otherwise = b.end.words === 'end' ? [] : expectEnd(block(['end']), item, head).nodes;
            const value = parsePipe(expr, item.at);
            nodes.push(
              head === 'with'
                ? { kind: 'with', value, body: b.nodes, otherwise, at: item.at }
                : { kind: 'range', vars, value, body: b.nodes, otherwise, at: item.at },
            );
            break;
          }
          case 'template': {
            const m = /^("(?:[^"\\]|\\.)*")\s*(.*)$/s.exec(rest);
            if (!m) throw new Error(`${item.at}: template needs a quoted name`);
            const arg = (m[2] as string).trim();
            nodes.push({
              kind: 'template',
              name: parseString(m[1] as string, item.at),
              arg: arg === '' ? undefined : parsePipe(arg, item.at),
              at: item.at,
            });
            break;
          }
          case 'else':
          case 'end':
            throw new Error(`${item.at}: unexpected {{${head}}}`);
          default:
            nodes.push({ kind: 'out', pipe: parsePipe(w, item.at), at: item.at });
        }
      }
      return { nodes };
    };
    const top = block([]);
    return top.nodes;
  }

  run(nodes: readonly Node[], root: Value, file: string): string {
    const scope: Scope = new Map([['$', root]]);
    try {
      return this.exec(nodes, root, scope);
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  private exec(nodes: readonly Node[], dot: Value, scope: Scope): string {
    let out = '';
    for (const n of nodes) {
      switch (n.kind) {
        case 'text':
          out += n.text;
          break;
        case 'out': {
          const v = this.pipe(n.pipe, dot, scope, n.at);
          if (!n.pipe.decl) out += print(v);
          break;
        }
        case 'if': {
          const hit = n.branches.find((b) => truthy(this.pipe(b.cond, dot, scope, n.at)));
          out += this.exec(hit ? hit.body : n.otherwise, dot, new Map(scope));
          break;
        }
        case 'with': {
          const v = this.pipe(n.value, dot, scope, n.at);
          out += truthy(v)
            ? this.exec(n.body, v, new Map(scope))
            : this.exec(n.otherwise, dot, new Map(scope));
          break;
        }
        case 'range': {
          const v = this.pipe(n.value, dot, scope, n.at);
          const entries: [Value, Value][] = Array.isArray(v)
            ? v.map((e, i) => [i, e])
            : isMap(v)
              ? Object.keys(v)
                  .sort()
                  .map((k) => [k, v[k]])
              : v === undefined || v === null
                ? []
                : fail(`${n.at}: range over ${typeof v}`);
          if (entries.length === 0) out += this.exec(n.otherwise, dot, new Map(scope));
          for (const [k, e] of entries) {
            const inner = new Map(scope);
            if (n.vars.length === 1) inner.set(n.vars[0] as string, e);
            if (n.vars.length === 2) {
              inner.set(n.vars[0] as string, k);
              inner.set(n.vars[1] as string, e);
            }
            out += this.exec(n.body, e, inner);
          }
          break;
        }
        case 'template':
          out += this.include(n.name, n.arg ? this.pipe(n.arg, dot, scope, n.at) : undefined, n.at);
          break;
      }
    }
    return out;
  }

  private include(name: string, arg: Value, at: string): string {
    const body = this.defines.get(name);
    if (!body) throw new Error(`${at}: no template "${name}" defined`);
    return this.exec(body, arg, new Map([['$', arg]]));
  }

  private pipe(p: Pipe, dot: Value, scope: Scope, at: string): Value {
    let acc: Value;
    let first = true;
    for (const cmd of p.commands) {
      acc = this.command(cmd, dot, scope, at, first ? [] : [acc]);
      first = false;
    }
    if (p.decl) {
      if (!p.decl.define && !scope.has(p.decl.name))
        throw new Error(`${at}: undefined variable ${p.decl.name}`);
      scope.set(p.decl.name, acc);
    }
    return acc;
  }

  private command(cmd: readonly Expr[], dot: Value, scope: Scope, at: string, piped: Value[]): Value {
    const [head, ...rest] = cmd;
    if (!head) throw new Error(`${at}: empty command`);
    if (head.kind === 'ident' && !['true', 'false', 'nil'].includes(head.name)) {
      if (head.name === 'include') {
        const [name, arg] = [...rest.map((e) => this.operand(e, dot, scope, at)), ...piped];
        return this.include(String(name), arg, at);
      }
      const fn = functions[head.name];
      if (!fn) throw new Error(`${at}: function "${head.name}" is not in the supported subset`);
      return fn(at, ...rest.map((e) => this.operand(e, dot, scope, at)), ...piped);
    }
    if (head.kind === 'field' && rest.length + piped.length > 0) {
      // A method call: .Files.Get "path"
      const recv = this.resolve({ ...head, path: head.path.slice(0, -1) }, dot, scope, at);
      const method = head.path[head.path.length - 1] as string;
      if (recv instanceof ChartFiles && (method === 'Get' || method === 'Glob')) {
        const [arg] = [...rest.map((e) => this.operand(e, dot, scope, at)), ...piped];
        return recv[method](String(arg));
      }
      throw new Error(`${at}: ${method} is not a method`);
    }
    if (rest.length + piped.length > 0) throw new Error(`${at}: cannot give arguments to a value`);
    return this.operand(head, dot, scope, at);
  }

  private operand(e: Expr, dot: Value, scope: Scope, at: string): Value {
    switch (e.kind) {
      case 'lit':
        return e.value;
      case 'ident':
        if (e.name === 'true') return true;
        if (e.name === 'false') return false;
        if (e.name === 'nil') return null;
        return this.command([e], dot, scope, at, []);
      case 'paren':
        return this.pipe(e.pipe, dot, scope, at);
      case 'field':
        return this.resolve(e, dot, scope, at);
    }
  }

  private resolve(e: Extract<Expr, { kind: 'field' }>, dot: Value, scope: Scope, at: string): Value {
    let v: Value;
    if (e.base === 'dot') v = dot;
    else {
      const name = e.base === 'root' ? '$' : e.base;
      if (!scope.has(name)) throw new Error(`${at}: undefined variable ${name}`);
      v = scope.get(name);
    }
    for (const [i, key] of e.path.entries()) {
      if (v === undefined || v === null) {
        throw new Error(`${at}: nil pointer evaluating .${e.path.slice(0, i + 1).join('.')}`);
      }
      if (v instanceof ChartFiles) throw new Error(`${at}: .Files.${key} is not supported`);
      if (!isMap(v)) throw new Error(`${at}: can't evaluate field ${key} in ${typeof v}`);
      v = v[key];
    }
    return v;
  }
}

function fail(message: string): never {
  throw new Error(message);
}

function expectEnd(b: Block, open: Action, what: string): Required<Block> {
  if (!b.end) throw new Error(`${open.at}: {{${what}}} without {{end}}`);
  return { nodes: b.nodes, end: b.end };
}

/** Text and actions, with trim markers applied to the neighbouring text. */
function lex(src: string, file: string): (string | Action)[] {
  const items: (string | Action)[] = [];
  let i = 0;
  let trimNext = false;
  const lineOf = (pos: number): number => src.slice(0, pos).split('\n').length;
  while (i <= src.length) {
    const open = src.indexOf('{{', i);
    let text = src.slice(i, open < 0 ? src.length : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) {
      items.push(text);
      break;
    }
    const trimBefore = src.startsWith('{{- ', open) || src.startsWith('{{-\n', open);
    if (trimBefore) text = text.replace(/\s+$/, '');
    items.push(text);
    const close = findClose(src, open + 2);
    if (close < 0) throw new Error(`${file}:${lineOf(open)}: unclosed action`);
    let inner = src.slice(open + (trimBefore ? 3 : 2), close);
    trimNext = /\s-$/.test(inner);
    if (trimNext) inner = inner.slice(0, -1);
    items.push({ words: inner.trim(), at: `${file}:${lineOf(open)}` });
    i = close + 2;
  }
  return items;
}

/** The `}}` closing an action opened before `from`, skipping quoted strings. */
function findClose(src: string, from: number): number {
  for (let i = from; i < src.length; i++) {
    const c = src[i];
    if (c === '"') {
      for (i++; i < src.length && src[i] !== '"'; i++) if (src[i] === '\\') i++;
    } else if (c === '}' && src[i + 1] === '}') return i;
  }
  return -1;
}

function parseString(s: string, at: string): string {
  const t = s.trim();
  if (!/^"(?:[^"\\]|\\.)*"$/.test(t)) throw new Error(`${at}: expected a quoted string, got ${t}`);
  return JSON.parse(t) as string;
}

/** A pipeline: optional `$x :=`, then commands separated by `|` outside parentheses and strings. */
function parsePipe(src: string, at: string): Pipe {
  let s = src.trim();
  let decl: Pipe['decl'];
  const d = /^(\$\w+)\s*(:?=)\s*(.*)$/s.exec(s);
  if (d) {
    decl = { name: d[1] as string, define: d[2] === ':=' };
    s = d[3] as string;
  }
  const tokens = tokenize(s, at);
  const commands: Expr[][] = [[]];
  let pos = 0;
  const operand = (): Expr => {
    const t = tokens[pos++] as string;
    if (t === '(') {
      const start = pos;
      let depth = 1;
      while (pos < tokens.length && depth > 0) {
        if (tokens[pos] === '(') depth++;
        if (tokens[pos] === ')') depth--;
        pos++;
      }
      if (depth !== 0) throw new Error(`${at}: unbalanced parentheses in ${src}`);
      return { kind: 'paren', pipe: parsePipe(tokens.slice(start, pos - 1).join(' '), at) };
    }
    if (t.startsWith('"')) return { kind: 'lit', value: JSON.parse(t) as string };
    if (/^-?\d+(\.\d+)?$/.test(t)) return { kind: 'lit', value: Number(t) };
    if (t === '.') return { kind: 'field', base: 'dot', path: [] };
    if (t.startsWith('.')) return { kind: 'field', base: 'dot', path: t.slice(1).split('.') };
    if (t.startsWith('$')) {
      const [base, ...path] = t.split('.');
      return { kind: 'field', base: base === '$' ? 'root' : (base as string), path };
    }
    if (/^\w+$/.test(t)) return { kind: 'ident', name: t };
    throw new Error(`${at}: unexpected "${t}" in ${src}`);
  };
  while (pos < tokens.length) {
    if (tokens[pos] === '|') {
      pos++;
      commands.push([]);
      continue;
    }
    (commands[commands.length - 1] as Expr[]).push(operand());
  }
  if (commands.some((c) => c.length === 0)) throw new Error(`${at}: empty command in "${src}"`);
  return decl ? { decl, commands } : { commands };
}

function tokenize(s: string, at: string): string[] {
  const tokens: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|[()|]|[^\s()|"]+)\s*/y;
  while (re.lastIndex < s.length) {
    const m = re.exec(s);
    if (!m) throw new Error(`${at}: cannot read "${s.slice(re.lastIndex)}"`);
    tokens.push(m[1] as string);
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------
// Functions (the Sprig/Helm ones the chart uses; the piped value comes last)

const toYaml = (v: Value): string =>
  v === undefined || v === null
    ? 'null'
    : stringify(v, { sortMapEntries: true, indentSeq: false, lineWidth: 0 }).replace(/\n$/, '');

const indentLines = (n: number, s: string): string =>
  s
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');

const functions: Record<string, (at: string, ...args: Value[]) => Value> = {
  toYaml: (_at, v) => toYaml(v),
  toJson: (_at, v) => JSON.stringify(v ?? null),
  nindent: (_at, n, s) => `\n${indentLines(Number(n), print(s))}`,
  indent: (_at, n, s) => indentLines(Number(n), print(s)),
  quote: (_at, ...vs) => vs.map((v) => JSON.stringify(print(v))).join(' '),
  squote: (_at, ...vs) => vs.map((v) => `'${print(v)}'`).join(' '),
  default: (_at, def, v) => (truthy(v) ? v : def),
  required: (at, message, v) =>
    v === undefined || v === null || v === '' ? fail(`${at}: ${print(message)}`) : v,
  empty: (_at, v) => !truthy(v),
  not: (_at, v) => !truthy(v),
  and: (_at, ...vs) => vs.find((v) => !truthy(v)) ?? vs[vs.length - 1],
  or: (_at, ...vs) => vs.find((v) => truthy(v)) ?? vs[vs.length - 1],
  eq: (_at, a, ...bs) => bs.some((b) => a === b),
  ne: (_at, a, b) => a !== b,
  lt: (_at, a, b) => Number(a) < Number(b),
  gt: (_at, a, b) => Number(a) > Number(b),
  print: (_at, ...vs) => vs.map(print).join(''),
  printf: (at, format, ...args) => {
    let i = 0;
    return String(format).replace(/%([sdvq%])/g, (_m, verb: string) => {
      if (verb === '%') return '%';
      if (i >= args.length) fail(`${at}: printf: too few arguments for ${String(format)}`);
      const a = args[i++];
      return verb === 'q' ? JSON.stringify(print(a)) : print(a);
    });
  },
  trunc: (_at, n, s) => print(s).slice(0, Number(n)),
  trimSuffix: (_at, suffix, s) => {
    const str = print(s);
    const suf = print(suffix);
    return suf !== '' && str.endsWith(suf) ? str.slice(0, -suf.length) : str;
  },
  lower: (_at, s) => print(s).toLowerCase(),
  upper: (_at, s) => print(s).toUpperCase(),
  replace: (_at, from, to, s) => print(s).split(print(from)).join(print(to)),
  sha256sum: (_at, s) => createHash('sha256').update(print(s)).digest('hex'),
  list: (_at, ...vs) => vs,
  dict: (at, ...vs) => {
    if (vs.length % 2 !== 0) fail(`${at}: dict needs key/value pairs`);
    const out: Record<string, Value> = {};
    for (let i = 0; i < vs.length; i += 2) out[print(vs[i])] = vs[i + 1];
    return out;
  },
  hasKey: (_at, m, k) => isMap(m) && print(k) in m,
  keys: (_at, m) => (isMap(m) ? Object.keys(m).sort() : []),
  concat: (_at, ...ls) => ls.flatMap((l): Value[] => (Array.isArray(l) ? (l as Value[]) : [])),
  int: (_at, v) => Math.trunc(Number(v)),
};

// ---------------------------------------------------------------------------------------
// CLI: print the rendered documents as one YAML stream (like `helm template`)

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const args = process.argv.slice(2);
  let chartDir: string | undefined;
  const values: Record<string, unknown>[] = [];
  const o: { releaseName?: string; namespace?: string } = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-f' || a === '--values') {
      values.push(parseYaml(readFileSync(args[++i] as string, 'utf8')) as Record<string, unknown>);
    } else if (a === '--release') o.releaseName = args[++i];
    else if (a === '--namespace' || a === '-n') o.namespace = args[++i];
    else chartDir = a;
  }
  if (!chartDir) {
    process.stderr.write(
      'usage: node scripts/helm-template.ts CHART_DIR [-f values.yaml]… [--release NAME] [-n NS]\n',
    );
    process.exit(2);
  }
  for (const f of renderChart(chartDir, { ...o, values })) {
    for (const d of f.documents) {
      process.stdout.write(
        `---\n# Source: ${relative(process.cwd(), join(chartDir, f.template))}\n${stringify(d)}`,
      );
    }
  }
}
