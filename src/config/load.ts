/**
 * YAML files → plain data + the position of every key and value.
 *
 * Order of work per file, each step guarding the next:
 *   1. size cap (MAX_CONFIG_BYTES) — parsing costs about 1 s per MiB;
 *   2. a nesting pre-scan on yaml's own (iterative) lexer — the composer recurses and a
 *      second stack overflow in one process aborts Node, so deep input never reaches it;
 *   3. `parseDocument` with a LineCounter; every syntax error becomes a CollectorError;
 *   4. our own walk to plain data: keys must be text, `<<` is rejected, aliases are
 *      expanded with a budget, `${env:…}` is expanded in string values.
 * Several files merge left to right: maps deep-merge, anything else (lists included)
 * is replaced by the later file, and positions follow whichever file supplied the value.
 */
import { open } from 'node:fs/promises';
import {
  CST,
  Lexer,
  LineCounter,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  parseDocument,
  type Document,
  type Pair,
} from 'yaml';
import {
  CollectorError,
  CollectorErrors,
  describeSystemError,
  sortErrors,
  type Position,
} from '../errors.ts';
import { CONFIG_ERROR_CODES as C } from './codes.ts';

export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Deepest nesting of maps and lists accepted (the YAML composer overflows at ~800). */
export const MAX_CONFIG_DEPTH = 64;
/** Alias dereferences per file (guards against billion-laughs expansion in our walk). */
export const MAX_ALIAS_EXPANSIONS = 1000;

export type PathSegment = string | number;
export type ConfigPath = readonly PathSegment[];

export interface ConfigSource {
  /** Name used in positions, as the user gave it (e.g. `pipelines/node.yaml`). */
  readonly file: string;
  readonly text: string;
}

export interface LoadedConfig {
  /** Merged plain data; the root is always a map (an empty file gives `{}`). */
  readonly value: Record<string, unknown>;
  /** The files in merge order. */
  readonly files: readonly string[];
  /**
   * Where a key (`which: 'key'`) or its value (`'value'`, the default) was written, in the
   * file that supplied it. Map keys are strings, list indexes numbers. `undefined` when the
   * path does not exist (or, for `'key'`, when the node is a list item or the root).
   */
  positionOf(path: ConfigPath, which?: 'key' | 'value'): Position | undefined;
  /**
   * Where character `offset` of the string value at `path` was written, when the source
   * shows the value verbatim on one line (plain or quoted without escapes); otherwise the
   * value's own position.
   */
  positionInText(path: ConfigPath, offset: number): Position | undefined;
  /** Warnings found while producing the config (drop-in mode's environment); logged at start. */
  readonly warnings?: readonly CollectorError[];
}

/** Position tree parallel to the data. */
interface PosNode {
  key?: Position | undefined;
  value: Position;
  /** Column of the string value's first character, when the source shows it verbatim. */
  textCol?: number | undefined;
  children?: Map<PathSegment, PosNode>;
}

interface Loaded {
  value: unknown;
  pos: PosNode;
}

/**
 * Read, parse and merge config files. Throws CollectorErrors with every problem found in
 * every file (each file is checked even when an earlier one failed).
 */
export async function loadConfigFiles(
  paths: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedConfig> {
  const errors: CollectorError[] = [];
  const sources: ConfigSource[] = [];
  if (paths.length === 0) {
    throw new CollectorErrors([new CollectorError(C.read, 'no configuration file given')]);
  }
  for (const file of paths) {
    const text = await readCapped(file, errors);
    if (text !== undefined) sources.push({ file, text });
  }
  return build(sources, env, errors);
}

/** Same as loadConfigFiles, for text already in memory (tests, `--config-text`). */
export function loadConfigSources(
  sources: readonly ConfigSource[],
  env: NodeJS.ProcessEnv = process.env,
): LoadedConfig {
  const errors: CollectorError[] = [];
  const ok: ConfigSource[] = [];
  for (const s of sources) {
    const bytes = Buffer.byteLength(s.text, 'utf8');
    if (bytes > MAX_CONFIG_BYTES) errors.push(tooLarge(s.file, bytes));
    else ok.push(s);
  }
  return build(ok, env, errors);
}

function build(
  sources: readonly ConfigSource[],
  env: NodeJS.ProcessEnv,
  errors: CollectorError[],
): LoadedConfig {
  const parts: Loaded[] = [];
  for (const s of sources) {
    const part = loadOne(s, env, errors);
    if (part) parts.push(part);
  }
  if (errors.length > 0) throw new CollectorErrors(sortErrors(errors));
  let merged: Loaded = parts[0] ?? { value: {}, pos: { value: { file: '', line: 1, col: 1 } } };
  for (const p of parts.slice(1)) merged = merge(merged, p);
  return makeLoaded(
    merged,
    sources.map((s) => s.file),
  );
}

function makeLoaded(root: Loaded, files: readonly string[]): LoadedConfig {
  return {
    value: root.value as Record<string, unknown>,
    files,
    positionOf(path, which = 'value') {
      const node = nodeAt(root.pos, path);
      return which === 'key' ? node?.key : node?.value;
    },
    positionInText(path, offset) {
      const node = nodeAt(root.pos, path);
      if (node?.textCol === undefined) return node?.value;
      return { ...node.value, col: node.textCol + offset };
    },
  };
}

function nodeAt(root: PosNode, path: ConfigPath): PosNode | undefined {
  let node: PosNode | undefined = root;
  for (const seg of path) {
    const kids: Map<PathSegment, PosNode> | undefined = node.children;
    node = kids?.get(seg) ?? (typeof seg === 'number' ? kids?.get(String(seg)) : kids?.get(Number(seg)));
    if (!node) return undefined;
  }
  return node;
}

// ---------------------------------------------------------------------------------------
// Reading

async function readCapped(file: string, errors: CollectorError[]): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(file, 'r');
    // Read at most one byte past the cap, so pipes (`--config <(…)`) work and a huge file
    // is never read whole.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(64 * 1024);
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > MAX_CONFIG_BYTES) {
        let size = total;
        try {
          const st = await fh.stat();
          if (st.isFile()) size = st.size;
        } catch {
          // keep the lower bound
        }
        errors.push(tooLarge(file, size));
        return undefined;
      }
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (err) {
    errors.push(new CollectorError(C.read, `read ${file}: ${describeSystemError(err)}`, { cause: err }));
    return undefined;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

function tooLarge(file: string, bytes: number): CollectorError {
  return new CollectorError(
    C.tooLarge,
    `read ${file}: the file is ${bytes} bytes; config files may be at most 1 MiB (${MAX_CONFIG_BYTES} bytes)`,
  );
}

// ---------------------------------------------------------------------------------------
// Depth pre-scan

/**
 * Upper-bound-ish estimate of the nesting depth, computed on yaml's lexer tokens (the lexer
 * is a flat state machine, safe on any input). Block nodes are tracked by the column they
 * start at; flow brackets add their own level. Scalars count as a level too, so the estimate
 * is one above the container depth for ordinary documents and never far below it for
 * hostile ones (a list written at its parent key's column shares that level: at most 2×
 * under, so 64 here is still far from the ~800 levels where the composer overflows).
 * Returns the position of the first token past `limit`, or undefined.
 */
export function scanDepth(text: string, limit: number): { offset: number; depth: number } | undefined {
  const stack: number[] = [];
  let flow = 0;
  let col = 0;
  let offset = 0;
  let scalarNext = false;

  const advance = (tok: string): void => {
    const nl = tok.lastIndexOf('\n');
    col = nl >= 0 ? tok.length - nl - 1 : col + tok.length;
    offset += tok.length;
  };
  const nodeAt = (c: number): boolean => {
    if (flow === 0) {
      while (stack.length > 0 && (stack[stack.length - 1] as number) >= c) stack.pop();
      stack.push(c);
    }
    return stack.length + flow > limit;
  };

  for (const tok of new Lexer().lex(text)) {
    if (scalarNext) {
      // Source of a plain or block scalar (it may span lines).
      scalarNext = false;
      if (nodeAt(col)) return { offset, depth: stack.length + flow };
      advance(tok);
      continue;
    }
    switch (CST.tokenType(tok)) {
      case 'scalar': // zero-width marker: the next token is the scalar's source
        scalarNext = true;
        continue;
      case 'doc-mode': // synthetic, not in the source
        continue;
      case 'flow-error-end': // synthetic: the lexer closed unterminated flow collections
        flow = 0;
        continue;
      case 'byte-order-mark':
        offset += tok.length;
        continue;
      case 'doc-start':
      case 'doc-end':
        stack.length = 0;
        flow = 0;
        break;
      case 'seq-item-ind':
      case 'explicit-key-ind':
      case 'alias':
      case 'single-quoted-scalar':
      case 'double-quoted-scalar':
        if (nodeAt(col)) return { offset, depth: stack.length + flow };
        break;
      case 'flow-map-start':
      case 'flow-seq-start':
        if (flow === 0) nodeAt(col);
        flow++;
        if (stack.length + flow > limit) return { offset, depth: stack.length + flow };
        break;
      case 'flow-map-end':
      case 'flow-seq-end':
        if (flow > 0) flow--;
        break;
      default:
        break;
    }
    advance(tok);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// One file

interface WalkCtx {
  readonly file: string;
  readonly text: string;
  readonly lc: LineCounter;
  readonly doc: Document.Parsed;
  readonly env: NodeJS.ProcessEnv;
  readonly errors: CollectorError[];
  readonly ancestors: Set<unknown>;
  aliases: number;
  aliasBudgetReported: boolean;
  deepReported: boolean;
}

function loadOne(src: ConfigSource, env: NodeJS.ProcessEnv, errors: CollectorError[]): Loaded | undefined {
  const lc = new LineCounter();
  const deep = scanDepth(src.text, MAX_CONFIG_DEPTH);
  if (deep) {
    // Count lines by hand: the LineCounter is only fed by the parser.
    const before = src.text.slice(0, deep.offset);
    const line = before.split('\n').length;
    const col = deep.offset - (before.lastIndexOf('\n') + 1) + 1;
    errors.push(
      new CollectorError(
        C.tooDeep,
        `nesting is deeper than ${MAX_CONFIG_DEPTH} levels; the file was not parsed (flatten the structure)`,
        { position: { file: src.file, line, col } },
      ),
    );
    return undefined;
  }

  const doc = parseDocument(src.text, {
    lineCounter: lc,
    prettyErrors: true,
    uniqueKeys: true,
    version: '1.2',
    schema: 'core',
    merge: false,
    strict: true,
  });
  const ctx: WalkCtx = {
    file: src.file,
    text: src.text,
    lc,
    doc,
    env,
    errors,
    ancestors: new Set(),
    aliases: 0,
    aliasBudgetReported: false,
    deepReported: false,
  };
  const start = errors.length;
  for (const e of [...doc.errors, ...doc.warnings]) {
    const offset = e.pos[0];
    const first = e.message.split('\n')[0] ?? e.message;
    let message = first.replace(/ at line \d+, column \d+:?\s*$/, '');
    message = message.charAt(0).toLowerCase() + message.slice(1);
    const dup = e.code === 'DUPLICATE_KEY';
    if (dup) message = 'duplicate key; a key may appear only once in a map';
    if (e.code === 'MULTIPLE_DOCS')
      message = 'a config file holds one YAML document; remove the "---" or split the file';
    errors.push(
      new CollectorError(dup ? C.duplicateKey : C.yaml, message, {
        position: posAt(ctx, offset),
        // Syntax errors can sit between nodes; only a duplicate key has a reliable path.
        path: dup ? pathAtOffset(doc, offset) : undefined,
      }),
    );
  }
  if (errors.length > start) return undefined;

  const rootPos = doc.contents ? posAt(ctx, doc.contents.range[0]) : { file: src.file, line: 1, col: 1 };
  const root = walk(doc.contents, 0, ctx, rootPos);
  if (errors.length > start) return undefined;
  if (root.value === null || root.value === undefined) {
    return { value: {}, pos: { value: rootPos, children: new Map() } };
  }
  if (!isPlainMap(root.value)) {
    errors.push(
      new CollectorError(C.type, `the top level of a config file must be a map, got ${kindOf(root.value)}`, {
        position: rootPos,
      }),
    );
    return undefined;
  }
  return root;
}

function posAt(ctx: { file: string; lc: LineCounter }, offset: number): Position {
  const { line, col } = ctx.lc.linePos(offset);
  return { file: ctx.file, line, col };
}

/** Best-effort key path of the node at `offset` (for YAML errors). */
function pathAtOffset(doc: Document.Parsed, offset: number): string | undefined {
  const segs: string[] = [];
  let node: unknown = doc.contents;
  for (let guard = 0; guard <= MAX_CONFIG_DEPTH && node; guard++) {
    let next: unknown;
    if (isMap(node)) {
      for (const pair of node.items) {
        const k = pair.key;
        const v = pair.value as { range?: [number, number, number] } | null;
        const kr = isScalar(k) ? k.range : undefined;
        if (!kr || !isScalar(k)) continue;
        const end = v?.range ? v.range[2] : kr[2];
        if (offset >= kr[0] && offset < Math.max(end, kr[1] + 1)) {
          segs.push(String(k.value));
          next = offset >= kr[1] ? v : undefined;
          break;
        }
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const r = (item as { range?: [number, number, number] } | null)?.range;
        if (r && offset >= r[0] && offset < r[2]) {
          segs.push(`[${i}]`);
          next = item;
        }
      });
    }
    node = next;
  }
  return segs.length > 0 ? segs.join('.').replace(/\.\[/g, '[') : undefined;
}

function walk(node: unknown, depth: number, ctx: WalkCtx, here: Position): Loaded {
  if (node === null || node === undefined) return { value: null, pos: { value: here } };

  if (isAlias(node)) {
    const pos = posAt(ctx, rangeStart(node) ?? 0);
    if (++ctx.aliases > MAX_ALIAS_EXPANSIONS) {
      if (!ctx.aliasBudgetReported) {
        ctx.aliasBudgetReported = true;
        ctx.errors.push(
          new CollectorError(
            C.yaml,
            `more than ${MAX_ALIAS_EXPANSIONS} alias expansions; write the values out`,
            {
              position: pos,
            },
          ),
        );
      }
      return { value: null, pos: { value: pos } };
    }
    const target = node.resolve(ctx.doc);
    if (!target) {
      ctx.errors.push(new CollectorError(C.yaml, `unknown alias *${node.source}`, { position: pos }));
      return { value: null, pos: { value: pos } };
    }
    if (ctx.ancestors.has(target)) {
      ctx.errors.push(
        new CollectorError(C.yaml, `alias *${node.source} refers to a node that contains it`, {
          position: pos,
        }),
      );
      return { value: null, pos: { value: pos } };
    }
    const r = walk(target, depth, ctx, pos);
    // The aliased value as a whole is "written" where the alias is; its inner keys keep
    // the positions of the anchored node.
    return { value: r.value, pos: { ...r.pos, value: pos, textCol: undefined } };
  }

  if (isScalar(node)) {
    const pos = posAt(ctx, rangeStart(node) ?? 0);
    let value: unknown = node.value;
    if (value !== null && typeof value === 'object') {
      // e.g. `!!binary` gives a Buffer: config values are text, numbers, booleans or null.
      ctx.errors.push(
        new CollectorError(
          C.yaml,
          `unsupported value type${node.tag ? ` ${node.tag}` : ''}; write plain text`,
          {
            position: pos,
          },
        ),
      );
      return { value: null, pos: { value: pos } };
    }
    let textCol: number | undefined;
    if (typeof value === 'string') {
      const raw = value;
      value = expandScalar(value, node.type, node.range ?? [0, 0, 0], ctx, pos);
      textCol =
        value === raw ? verbatimColumn(raw, node.type, node.range ?? undefined, ctx.text, pos) : undefined;
    }
    return { value, pos: { value: pos, textCol } };
  }

  if (isMap(node) || isSeq(node)) {
    const pos = posAt(ctx, rangeStart(node) ?? 0);
    if (depth + 1 > MAX_CONFIG_DEPTH) {
      if (!ctx.deepReported) {
        ctx.deepReported = true;
        ctx.errors.push(
          new CollectorError(
            C.tooDeep,
            `nesting is deeper than ${MAX_CONFIG_DEPTH} levels (after alias expansion)`,
            {
              position: pos,
            },
          ),
        );
      }
      return { value: null, pos: { value: pos } };
    }
    ctx.ancestors.add(node);
    try {
      if (isMap(node)) return walkPairs(node.items, depth + 1, ctx, pos);
      const arr: unknown[] = [];
      const children = new Map<PathSegment, PosNode>();
      node.items.forEach((item, i) => {
        // `[a: 1]` gives a Pair inside a list: a one-key map.
        const r = isPair(item)
          ? walkPairs([item], depth + 2, ctx, posAt(ctx, rangeStart(item.key) ?? rangeStart(node) ?? 0))
          : walk(item, depth + 1, ctx, pos);
        arr.push(r.value);
        children.set(i, r.pos);
      });
      return { value: arr, pos: { value: pos, children } };
    } finally {
      ctx.ancestors.delete(node);
    }
  }

  // Unknown node kind (should not happen with the core schema).
  return { value: null, pos: { value: here } };
}

/** Column of a string scalar's first character when its source is the value itself on one line. */
function verbatimColumn(
  value: string,
  style: string | undefined,
  range: readonly [number, number, number] | undefined,
  text: string,
  pos: Position,
): number | undefined {
  if (!range) return undefined;
  const src = text.slice(range[0], range[1]);
  if (src.includes('\n')) return undefined;
  if (style === 'PLAIN' && src === value) return pos.col;
  if ((style === 'QUOTE_DOUBLE' || style === 'QUOTE_SINGLE') && src.slice(1, -1) === value)
    return pos.col + 1;
  return undefined;
}

function rangeStart(n: unknown): number | undefined {
  const r = (n as { range?: [number, number, number] } | null)?.range;
  return r?.[0];
}

function walkPairs(pairs: readonly Pair[], depth: number, ctx: WalkCtx, pos: Position): Loaded {
  const obj: Record<string, unknown> = {};
  const children = new Map<PathSegment, PosNode>();
  for (const pair of pairs) {
    const k = pair.key;
    const keyPos = posAt(ctx, rangeStart(k) ?? rangeStart(pair.value) ?? 0);
    const kv: unknown = isScalar(k) ? k.value : undefined;
    const key =
      typeof kv === 'string'
        ? kv
        : typeof kv === 'number' || typeof kv === 'boolean'
          ? String(kv)
          : undefined;
    if (key === undefined) {
      ctx.errors.push(
        new CollectorError(C.yaml, 'map keys must be plain text (not lists, maps, aliases or empty)', {
          position: keyPos,
        }),
      );
      continue;
    }
    if (key === '<<') {
      ctx.errors.push(
        new CollectorError(
          C.mergeKey,
          'YAML merge keys (<<) are not applied (YAML 1.2); write the keys out, or alias the whole value with *anchor',
          { position: keyPos },
        ),
      );
      continue;
    }
    if (Object.hasOwn(obj, key)) {
      // e.g. `1:` and `"1":` — distinct YAML keys, the same config key.
      ctx.errors.push(
        new CollectorError(C.duplicateKey, 'duplicate key; a key may appear only once in a map', {
          position: keyPos,
          path: key,
        }),
      );
      continue;
    }
    const r = walk(pair.value, depth, ctx, keyPos);
    // `key:` with nothing after it: point at the key rather than at the empty space.
    const v = pair.value;
    const empty = v === null || (isScalar(v) && v.value === null && (v.source ?? '') === '');
    // defineProperty: a `__proto__` key stays an ordinary key.
    Object.defineProperty(obj, key, { value: r.value, enumerable: true, writable: true, configurable: true });
    children.set(key, { ...r.pos, key: keyPos, ...(empty ? { value: keyPos } : {}) });
  }
  return { value: obj, pos: { value: pos, children } };
}

// ---------------------------------------------------------------------------------------
// ${env:…}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

type Expansion = { ok: true; value: string; whole: boolean } | { ok: false; message: string; ref: string };

/**
 * Expand `${env:NAME}` and `${env:NAME:-default}` (default when unset or empty), `$$` → `$`.
 * A `$` before anything else stays as written. Values are inserted as they are (not expanded
 * again). `whole` is true when the string is exactly one reference.
 */
export function expandEnv(raw: string, env: NodeJS.ProcessEnv): Expansion {
  if (!raw.includes('$')) return { ok: true, value: raw, whole: false };
  let out = '';
  let refs = 0;
  let i = 0;
  while (i < raw.length) {
    const ch = raw[i];
    if (ch !== '$') {
      out += ch;
      i++;
      continue;
    }
    const next = raw[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next !== '{') {
      out += '$';
      i++;
      continue;
    }
    const close = raw.indexOf('}', i + 2);
    if (close < 0) {
      return {
        ok: false,
        ref: raw.slice(i),
        message: `unterminated reference "${raw.slice(i)}"; close it with "}"`,
      };
    }
    const ref = raw.slice(i, close + 1);
    const inner = raw.slice(i + 2, close);
    if (!inner.startsWith('env:')) {
      return {
        ok: false,
        ref,
        message: `unsupported reference "${ref}"; use \${env:NAME} or \${env:NAME:-default}, or $$ for a literal $`,
      };
    }
    const body = inner.slice(4);
    const sep = body.indexOf(':-');
    const name = sep >= 0 ? body.slice(0, sep) : body;
    const fallback = sep >= 0 ? body.slice(sep + 2) : undefined;
    if (!ENV_NAME.test(name)) {
      return {
        ok: false,
        ref,
        message: `invalid environment variable name "${name}" in "${ref}"; names are letters, digits and _`,
      };
    }
    const v = env[name];
    if (v === undefined || v === '') {
      if (fallback !== undefined) out += fallback;
      else if (v === undefined) {
        return {
          ok: false,
          ref,
          message: `environment variable ${name} is not set; set it or give a default: \${env:${name}:-value}`,
        };
      }
    } else {
      out += v;
    }
    refs++;
    i = close + 1;
  }
  const whole = refs === 1 && /^\$\{env:[^}]*\}$/.test(raw);
  return { ok: true, value: out, whole };
}

function expandScalar(
  raw: string,
  style: string | undefined,
  range: readonly [number, number, number],
  ctx: WalkCtx,
  pos: Position,
): unknown {
  const r = expandEnv(raw, ctx.env);
  if (!r.ok) {
    // Point at the reference itself when it appears verbatim in the source.
    const src = ctx.text.slice(range[0], range[1]);
    const at = src.indexOf(r.ref);
    ctx.errors.push(
      new CollectorError(C.env, r.message, { position: at >= 0 ? posAt(ctx, range[0] + at) : pos }),
    );
    return raw;
  }
  // A plain (unquoted) value that is exactly one reference takes the type the text would
  // have in YAML: `port: ${env:PORT}` gives a number. Quote it to keep a string.
  if (r.whole && style === 'PLAIN') return typedScalar(r.value);
  return r.value;
}

function typedScalar(s: string): unknown {
  if (/^[-+]?[0-9]+$/.test(s)) {
    const n = Number(s);
    return Number.isSafeInteger(n) ? n : s;
  }
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(s)) return Number(s);
  if (/^(true|True|TRUE)$/.test(s)) return true;
  if (/^(false|False|FALSE)$/.test(s)) return false;
  return s;
}

// ---------------------------------------------------------------------------------------
// Merge

export function isPlainMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(a: Loaded, b: Loaded): Loaded {
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
