/** Limits on config input: the size cap (read in files.ts) and the nesting pre-scan (before parsing). */
import { CST, Lexer } from 'yaml';
import { CollectorError } from '../errors.ts';
import { CONFIG_ERROR_CODES as C } from './codes.ts';

/** Largest config file accepted, in bytes. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Deepest nesting of maps and lists accepted (the YAML composer overflows at ~800). */
export const MAX_CONFIG_DEPTH = 64;
/** Alias dereferences per file (guards against billion-laughs expansion in our walk). */
export const MAX_ALIAS_EXPANSIONS = 1000;
/**
 * Nodes copied through aliases per file: 1,000 aliases of a 100,000-item anchored list
 * would be 10^8 values from a 1 MiB file (an anchor bomb); this keeps expansion in the
 * order of the file itself.
 */
export const MAX_ALIAS_NODES = 100_000;
/** Longest string value (after `${env:…}` expansion) and longest map key, in characters. */
export const MAX_STRING_CHARS = 128 * 1024;
export const MAX_KEY_CHARS = 1024;

export function tooLarge(file: string, bytes: number): CollectorError {
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
