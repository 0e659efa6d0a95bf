/**
 * zod schema + loaded config → typed value, or every problem as a CollectorError with the
 * position of the offending node:
 *   unknown key        → the key's position                    ERR_CONFIG_UNKNOWN_KEY
 *   wrong type         → the value's position                  ERR_CONFIG_TYPE
 *   not one of         → the value's position                  ERR_CONFIG_ENUM
 *   missing required   → the position of the map that lacks it ERR_CONFIG_MISSING
 *   anything else      → the value's position                  ERR_CONFIG_VALUE (or the code a
 *                        custom issue carries in params.configCode, see types.ts)
 * A message written in the schema (`z.string().min(1, 'give a name')`) is kept; otherwise
 * the message is ours. Use strict objects (`z.strictObject`) so unknown keys are errors.
 */
import type { z } from 'zod';
import { CollectorError, sortErrors, type Position } from '../errors.ts';
import { CONFIG_ERROR_CODES as C } from './codes.ts';
import { describeInput, listOf, quote, showValue, suggestion } from './describe.ts';
import {
  formatPath,
  isPlainMap,
  valueAt,
  type ConfigPath,
  type LoadedConfig,
  type PathSegment,
} from './load.ts';
import type { ConfigIssueParams } from './types.ts';

export interface ValidationResult<T> {
  /** Set when there are no errors. */
  readonly value?: T;
  /** Sorted by file, line, column. */
  readonly errors: CollectorError[];
}

/**
 * Validate the sub-tree at `basePath` (`[]` for the whole config). Paths in messages are
 * `basePath` + the issue path, or `displayPrefix` + the issue path when given.
 */
export function validate<T>(
  schema: z.ZodType<T>,
  loaded: LoadedConfig,
  basePath: ConfigPath,
  displayPrefix?: string,
): ValidationResult<T> {
  return validateValue(schema, valueAt(loaded.value, basePath), loaded, basePath, displayPrefix);
}

/**
 * Validate one component's config (`['receivers', 'ebpf/timers']`): an empty value
 * (`prometheus:` with nothing under it) is validated as `{}` so schema defaults apply.
 */
export function validateComponentConfig<T>(
  schema: z.ZodType<T>,
  loaded: LoadedConfig,
  basePath: ConfigPath,
  displayPrefix?: string,
): ValidationResult<T> {
  const v = valueAt(loaded.value, basePath);
  return validateValue(schema, v ?? {}, loaded, basePath, displayPrefix);
}

/** Validate `data` (which stands at `basePath` in `loaded`). */
export function validateValue<T>(
  schema: z.ZodType<T>,
  data: unknown,
  loaded: LoadedConfig,
  basePath: ConfigPath,
  displayPrefix?: string,
): ValidationResult<T> {
  const result = schema.safeParse(data, { reportInput: true, error: markGenerated });
  if (result.success) return { value: result.data, errors: [] };
  const ctx: Ctx = { loaded, basePath, data, prefix: displayPrefix ?? formatPath(basePath), out: [] };
  for (const issue of result.error.issues) convert(issue, [], ctx, 'auto');
  return { errors: dedupe(sortErrors(ctx.out)) };
}

// ---------------------------------------------------------------------------------------

/** Messages zod would generate get this marker, so we can tell them from schema-written ones. */
const MARK = '\u0000config:';

function markGenerated(iss: z.core.$ZodRawIssue): string {
  if (iss.code === 'unrecognized_keys') {
    const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod
      ?.def?.shape;
    return MARK + JSON.stringify(shape ? Object.keys(shape) : null);
  }
  return MARK;
}

interface Ctx {
  readonly loaded: LoadedConfig;
  readonly basePath: ConfigPath;
  readonly data: unknown;
  readonly prefix: string;
  readonly out: CollectorError[];
}

type At = 'key' | 'value' | 'parent';
/** 'auto': each issue kind picks its node; otherwise forced (record keys report at the key). */
type Where = 'auto' | At;

function convert(issue: z.core.$ZodIssue, rel: readonly PathSegment[], ctx: Ctx, where: Where): void {
  const path = [...rel, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
  const generated = issue.message.startsWith(MARK);
  const own = generated ? undefined : issue.message;
  const push = (
    code: string,
    message: string,
    at: At = 'value',
    p: readonly PathSegment[] = path,
    offset?: number,
  ): void => {
    const inText =
      offset === undefined ? undefined : ctx.loaded.positionInText([...ctx.basePath, ...p], offset);
    ctx.out.push(
      new CollectorError(code, message, {
        position: inText ?? positionFor(ctx, p, where === 'auto' ? at : where),
        path: displayPath(ctx.prefix, p) || undefined,
      }),
    );
  };

  switch (issue.code) {
    case 'unrecognized_keys': {
      const expected = generated ? (JSON.parse(issue.message.slice(MARK.length)) as string[] | null) : null;
      for (const key of issue.keys) {
        const msg =
          own ??
          (expected && expected.length > 0
            ? `unknown key; expected one of ${listOf(expected)}${suggestion(key, expected)}`
            : 'unknown key; no keys are allowed here');
        push(C.unknownKey, msg, 'key', [...path, key]);
      }
      return;
    }
    case 'invalid_type': {
      if (isMissing(ctx, path, issue.input)) push(C.missing, own ?? 'missing required key', 'parent');
      else push(C.type, own ?? `expected ${expectedText(issue.expected)}, got ${describeInput(issue.input)}`);
      return;
    }
    case 'invalid_value': {
      if (isMissing(ctx, path, issue.input)) {
        push(C.missing, own ?? 'missing required key', 'parent');
        return;
      }
      // Listed bare as the user would type them: `expected one of debug, info, got "x"`.
      const values = issue.values.map((v) => (typeof v === 'string' ? v : showValue(v)));
      const expected = values.length === 1 ? showValue(issue.values[0]) : `one of ${listOf(values)}`;
      const got = showValue(issue.input);
      const hint = typeof issue.input === 'string' ? suggestion(issue.input, issue.values.map(String)) : '';
      push(C.enum, own ?? `expected ${expected}, got ${got}${hint}`);
      return;
    }
    case 'too_small':
    case 'too_big':
      push(C.value, own ?? rangeMessage(issue));
      return;
    case 'invalid_format':
      push(C.value, own ?? formatMessage(issue));
      return;
    case 'not_multiple_of':
      push(C.value, own ?? `expected a multiple of ${issue.divisor}, got ${showValue(issue.input)}`);
      return;
    case 'invalid_key':
      // A record key failed its schema: report at the key, with the key schema's words.
      for (const sub of issue.issues) convert(sub, path, ctx, 'key');
      return;
    case 'invalid_element':
      for (const sub of issue.issues) convert(sub, path, ctx, where);
      return;
    case 'invalid_union':
      convertUnion(issue, path, own, ctx, where, push);
      return;
    case 'custom': {
      const params = issue.params as Partial<ConfigIssueParams> | undefined;
      push(params?.configCode ?? C.value, own ?? 'invalid value', 'value', path, params?.offset);
      return;
    }
    default: {
      const unknownIssue = issue as { message: string };
      push(C.value, generated ? 'invalid value' : unknownIssue.message);
    }
  }
}

function convertUnion(
  issue: z.core.$ZodIssueInvalidUnion,
  path: readonly PathSegment[],
  own: string | undefined,
  ctx: Ctx,
  where: Where,
  push: (code: string, message: string, at?: At, p?: readonly PathSegment[]) => void,
): void {
  if (own !== undefined) {
    push(C.value, own);
    return;
  }
  if (issue.discriminator !== undefined) {
    // Discriminated union without a matching tag.
    const key = issue.discriminator;
    const p = path[path.length - 1] === key ? path : [...path, key];
    const tag = valueAt(ctx.data, p);
    if (tag === undefined) push(C.missing, 'missing required key', 'parent', p);
    else {
      const opts = 'options' in issue && issue.options ? issue.options.map(showValue) : [];
      push(
        C.enum,
        opts.length
          ? `expected one of ${listOf(opts)}, got ${showValue(tag)}`
          : `unexpected ${showValue(tag)}`,
        'value',
        p,
      );
    }
    return;
  }
  const branches = issue.errors;
  if (branches.length === 0) {
    push(C.value, 'the value matches more than one allowed form');
    return;
  }
  if (isMissing(ctx, path, issue.input)) {
    push(C.missing, 'missing required key', 'parent');
    return;
  }
  const typeOnly = branches.map(typeExpectation);
  if (typeOnly.every((t) => t !== undefined)) {
    const expected = [...new Set(typeOnly)].join(' or ');
    push(C.type, `expected ${expected}, got ${describeInput(issue.input)}`);
    return;
  }
  // The value has the right shape for some branch: report that branch's problems.
  let best: z.core.$ZodIssue[] | undefined;
  branches.forEach((b, i) => {
    if (typeOnly[i] === undefined && (!best || b.length < best.length)) best = b;
  });
  for (const sub of best ?? []) convert(sub, path, ctx, where);
}

/** What a branch wanted, when it failed only because the value had the wrong type. */
function typeExpectation(branch: readonly z.core.$ZodIssue[]): string | undefined {
  if (branch.length !== 1) return undefined;
  const i = branch[0] as z.core.$ZodIssue;
  if (i.path.length !== 0) return undefined;
  if (i.code === 'invalid_type') return expectedText(i.expected);
  if (i.code === 'custom') {
    const p = i.params as Partial<ConfigIssueParams> | undefined;
    if (p?.configCode === C.type && p.expected) return p.expected;
  }
  return undefined;
}

function isMissing(ctx: Ctx, path: readonly PathSegment[], input: unknown): boolean {
  if (input !== undefined) return false;
  if (path.length === 0) return ctx.data === undefined;
  const parent = valueAt(ctx.data, path.slice(0, -1));
  const last = path[path.length - 1];
  return isPlainMap(parent) && !Object.hasOwn(parent, String(last));
}

function expectedText(expected: string): string {
  switch (expected) {
    case 'string':
      return 'a string';
    case 'number':
    case 'nan':
      return 'a number';
    case 'int':
    case 'bigint':
      return 'an integer';
    case 'boolean':
      return 'a boolean';
    case 'object':
    case 'record':
    case 'map':
      return 'a map';
    case 'array':
    case 'tuple':
    case 'set':
      return 'a list';
    case 'null':
      return 'an empty value';
    case 'undefined':
    case 'never':
      return 'nothing';
    default:
      return `a ${expected}`;
  }
}

function rangeMessage(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  const small = issue.code === 'too_small';
  const bound = small ? issue.minimum : issue.maximum;
  const inclusive = issue.inclusive !== false;
  const input = issue.input;
  const count = (n: number | bigint, unit: string): string => `${n} ${unit}${Number(n) === 1 ? '' : 's'}`;
  switch (issue.origin) {
    case 'array':
    case 'set': {
      const got = Array.isArray(input) ? input.length : undefined;
      const want = issue.exact
        ? `exactly ${count(bound, 'item')}`
        : `${small ? 'at least' : 'at most'} ${count(bound, 'item')}`;
      return `expected ${want}${got === undefined ? '' : `, got ${got}`}`;
    }
    case 'string': {
      const got = typeof input === 'string' ? input.length : undefined;
      const want = issue.exact
        ? `exactly ${count(bound, 'character')}`
        : `${small ? 'at least' : 'at most'} ${count(bound, 'character')}`;
      return `expected ${want}${got === undefined ? '' : `, got ${got}`}`;
    }
    default: {
      const op = small ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<';
      return `expected a value ${op} ${bound}, got ${showValue(input)}`;
    }
  }
}

function formatMessage(issue: z.core.$ZodIssueInvalidStringFormat): string {
  const got = typeof issue.input === 'string' ? quote(issue.input) : showValue(issue.input);
  const i = issue as z.core.$ZodIssueInvalidStringFormat & {
    prefix?: string;
    suffix?: string;
    includes?: string;
  };
  switch (issue.format) {
    case 'regex':
      return `expected text matching ${issue.pattern ?? 'the pattern'}, got ${got}`;
    case 'starts_with':
      return `expected text starting with ${quote(i.prefix ?? '')}, got ${got}`;
    case 'ends_with':
      return `expected text ending with ${quote(i.suffix ?? '')}, got ${got}`;
    case 'includes':
      return `expected text containing ${quote(i.includes ?? '')}, got ${got}`;
    default:
      return `expected a valid ${issue.format}, got ${got}`;
  }
}

function positionFor(ctx: Ctx, rel: readonly PathSegment[], where: At): Position | undefined {
  const full = [...ctx.basePath, ...rel];
  if (where === 'key') {
    const p = ctx.loaded.positionOf(full, 'key');
    if (p) return p;
  }
  const start = where === 'parent' ? full.slice(0, -1) : full;
  for (let n = start.length; n >= 0; n--) {
    const p = ctx.loaded.positionOf(start.slice(0, n), 'value');
    if (p) return p;
  }
  return undefined;
}

/** `prefix` + `.a[0].b` */
export function displayPath(prefix: string, rel: readonly PathSegment[]): string {
  const tail = formatPath(rel);
  if (prefix === '') return tail;
  if (tail === '') return prefix;
  return tail.startsWith('[') ? prefix + tail : `${prefix}.${tail}`;
}

function dedupe(errors: CollectorError[]): CollectorError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = e.format();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
