import { z } from 'zod';
import { CONFIG_ERROR_CODES as C, type ConfigErrorCode } from '../config/codes.ts';
import type { ConfigIssueParams } from '../config/types.ts';
import { isLabelName } from './names.ts';
import { regexProblem } from './regex.ts';

type Ctx = z.core.$RefinementCtx;

/**
 * A config problem at `path` under the value being refined (`[]`: the map itself, as for
 * a missing key), keeping our ERR_CONFIG_* code; `offset` points inside a string value.
 */
export function issueAt(
  ctx: Ctx,
  path: readonly (string | number)[],
  code: ConfigErrorCode,
  message: string,
  input: unknown,
  offset?: number,
): void {
  const params: ConfigIssueParams =
    offset === undefined ? { configCode: code } : { configCode: code, offset };
  ctx.addIssue({ code: 'custom', message, input, path: [...path], params: { ...params } });
}

/** A RE2 regexp (anchored when used); problems are ERR_CONFIG_REGEXP at the offending construct. */
export function re2Pattern(): z.ZodType<string, unknown> {
  return z.string().superRefine((pattern, ctx) => {
    const p = regexProblem(pattern);
    if (p) issueAt(ctx, [], C.regexp, `not a valid RE2 regexp: ${p.message}`, pattern, p.offset);
  });
}

/** A label name (`[a-zA-Z_][a-zA-Z0-9_]*`). */
export function labelName(): z.ZodType<string, unknown> {
  return z.string().superRefine((name, ctx) => {
    if (!isLabelName(name)) {
      issueAt(
        ctx,
        [],
        C.value,
        `${JSON.stringify(name)} is not a valid label name (letters, digits, _)`,
        name,
      );
    }
  });
}

/**
 * The value rules of the collector's insert/update/upsert and delete/hash actions
 * (attributes and resource processors): a set action takes `value` or
 * `from_attribute`, exactly one; the others take neither.
 */
export function checkValueSource(
  ctx: Ctx,
  a: { readonly action: string; readonly value?: unknown; readonly from_attribute?: unknown },
  isSet: boolean,
): void {
  if (isSet) {
    if (a.value === undefined && a.from_attribute === undefined) {
      issueAt(ctx, [], C.missing, `the ${a.action} action requires 'value' or 'from_attribute'`, a);
    } else if (a.value !== undefined && a.from_attribute !== undefined) {
      issueAt(
        ctx,
        ['from_attribute'],
        C.value,
        "give either 'value' or 'from_attribute', not both",
        a.from_attribute,
      );
    }
    return;
  }
  for (const k of ['value', 'from_attribute'] as const) {
    if (a[k] !== undefined) issueAt(ctx, [k], C.value, `'${k}' is not used by the ${a.action} action`, a[k]);
  }
}
