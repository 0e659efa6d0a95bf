/** One YAML file → plain data + positions (steps 2–4 of load.ts). */
import {
  LineCounter,
  isAlias,
  isMap,
  isNode,
  isPair,
  isScalar,
  isSeq,
  parseDocument,
  visit,
  type Document,
  type Pair,
} from 'yaml';
import { clip, CollectorError, type Position } from '../errors.ts';
import { CONFIG_ERROR_CODES as C } from './codes.ts';
import { expandEnv, typedScalar } from './env.ts';
import {
  MAX_ALIAS_EXPANSIONS,
  MAX_ALIAS_NODES,
  MAX_CONFIG_DEPTH,
  MAX_KEY_CHARS,
  MAX_STRING_CHARS,
  scanDepth,
} from './limits.ts';
import { isPlainMap, kindOf, type Loaded, type PathSegment, type PosNode } from './merge.ts';

export interface ConfigSource {
  /** Name used in positions, as the user gave it (e.g. `pipelines/node.yaml`). */
  readonly file: string;
  readonly text: string;
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
  /** > 0 while walking an alias's target; nodes walked then count against MAX_ALIAS_NODES. */
  inAlias: number;
  duplicates: number;
  /** Alias → its anchored node, built in one pass at the first alias (see aliasTargets). */
  targets?: Map<unknown, unknown>;
  aliasNodes: number;
  aliasBudgetReported: boolean;
  deepReported: boolean;
}

export function loadOne(
  src: ConfigSource,
  env: NodeJS.ProcessEnv,
  errors: CollectorError[],
): Loaded | undefined {
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
    // Duplicates are found in walkPairs, in O(1) per key (yaml's check is O(n²): 70,000 keys took minutes).
    uniqueKeys: false,
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
    inAlias: 0,
    duplicates: 0,
    aliasNodes: 0,
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
  if (ctx.inAlias > 0 && ++ctx.aliasNodes > MAX_ALIAS_NODES) {
    if (!ctx.aliasBudgetReported) {
      ctx.aliasBudgetReported = true;
      ctx.errors.push(
        new CollectorError(
          C.yaml,
          `aliases expand to more than ${MAX_ALIAS_NODES} values; write the values out`,
          { position: here },
        ),
      );
    }
    return { value: null, pos: { value: here } };
  }

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
    const target = aliasTargets(ctx).get(node);
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
    ctx.inAlias++;
    let r: Loaded;
    try {
      r = walk(target, depth, ctx, pos);
    } finally {
      ctx.inAlias--;
    }
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
      if (typeof value === 'string' && value.length > MAX_STRING_CHARS) {
        ctx.errors.push(
          new CollectorError(
            C.value,
            `a string of ${value.length} characters; values are at most ${MAX_STRING_CHARS} (use a file for more)`,
            { position: pos },
          ),
        );
        return { value: null, pos: { value: pos } };
      }
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

/**
 * Every alias's target: the last node before it with that anchor, as yaml's
 * `Alias.resolve` defines it — but in one pass over the document, where `resolve` walks
 * the whole document again for each alias (900 aliases of a 150,000-item list: 30 s).
 */
function aliasTargets(ctx: WalkCtx): Map<unknown, unknown> {
  if (ctx.targets) return ctx.targets;
  const targets = new Map<unknown, unknown>();
  const latest = new Map<string, unknown>();
  visit(ctx.doc, {
    Node: (_key, node) => {
      if (isAlias(node)) targets.set(node, latest.get(node.source));
      else if (isNode(node) && node.anchor) latest.set(node.anchor, node);
    },
  });
  ctx.targets = targets;
  return targets;
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
    if (key.length > MAX_KEY_CHARS) {
      ctx.errors.push(
        new CollectorError(
          C.yaml,
          `a key of ${key.length} characters (${clip(key)}); keys are at most ${MAX_KEY_CHARS}`,
          { position: keyPos },
        ),
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
      // Also `1:` and `"1":` — distinct YAML keys, the same config key. The full key path is
      // looked up (a walk from the root) for the first few only, so 10^5 duplicates stay linear.
      const offset = rangeStart(k);
      const path = ++ctx.duplicates <= 20 && offset !== undefined ? pathAtOffset(ctx.doc, offset) : undefined;
      ctx.errors.push(
        new CollectorError(C.duplicateKey, 'duplicate key; a key may appear only once in a map', {
          position: keyPos,
          path: path ?? key,
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
