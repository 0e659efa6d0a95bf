/** Parsing for the helm-template subset: template text → nodes. */
import type { Value } from './values.ts';

export type Node =
  | { kind: 'text'; text: string }
  | { kind: 'out'; pipe: Pipe; at: string }
  | { kind: 'if'; branches: { cond: Pipe; body: Node[] }[]; otherwise: Node[]; at: string }
  | { kind: 'with'; value: Pipe; body: Node[]; otherwise: Node[]; at: string }
  | { kind: 'range'; vars: string[]; value: Pipe; body: Node[]; otherwise: Node[]; at: string }
  | { kind: 'template'; name: string; arg: Pipe | undefined; at: string };

/** `$x := …` / `$x = …` before the commands. */
export interface Pipe {
  readonly decl?: { readonly name: string; readonly define: boolean };
  readonly commands: readonly Expr[][];
}

export type Expr =
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

/**
 * Parses one template file into nodes; its `define`s go into `defines` (shared by every file of
 * the chart, as in Helm).
 */
export function parseTemplate(src: string, file: string, defines: Map<string, Node[]>): Node[] {
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
          defines.set(name, body.nodes);
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
