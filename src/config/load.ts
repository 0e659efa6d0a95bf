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
import { CollectorError, CollectorErrors, sortErrors, type Position } from '../errors.ts';
import { CONFIG_ERROR_CODES as C } from './codes.ts';
import { readConfigFile } from './files.ts';
import { MAX_CONFIG_BYTES, tooLarge } from './limits.ts';
import { merge, type ConfigPath, type Loaded, type PathSegment, type PosNode } from './merge.ts';
import { loadOne, type ConfigSource } from './parse.ts';

export { expandEnv } from './env.ts';
export {
  MAX_ALIAS_EXPANSIONS,
  MAX_ALIAS_NODES,
  MAX_CONFIG_BYTES,
  MAX_CONFIG_DEPTH,
  MAX_KEY_CHARS,
  MAX_STRING_CHARS,
  scanDepth,
} from './limits.ts';
export { formatPath, isPlainMap, kindOf, valueAt, type ConfigPath, type PathSegment } from './merge.ts';
export type { ConfigSource } from './parse.ts';

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
    const text = await readConfigFile(file, errors);
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
