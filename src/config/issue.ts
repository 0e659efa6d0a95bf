/** The custom zod issue our config schemas report: carries the ERR_CONFIG_* code for validate(). */
import { z } from 'zod';
import type { ConfigErrorCode } from './codes.ts';

/** Params on custom issues: read by validate(). */
export interface ConfigIssueParams {
  readonly configCode: ConfigErrorCode;
  /** For type errors: what was expected, e.g. `a duration like "15s"` (used to merge union branches). */
  readonly expected?: string;
  /** For problems inside a string (a regexp): the character offset the position points at. */
  readonly offset?: number;
}

export type Ctx = z.core.$RefinementCtx;

/** Add a custom issue with our code; returns z.NEVER for use inside transforms. */
export function configIssue(
  ctx: Ctx,
  input: unknown,
  code: ConfigErrorCode,
  message: string,
  expected?: string,
): never {
  const params: ConfigIssueParams =
    expected === undefined ? { configCode: code } : { configCode: code, expected };
  ctx.addIssue({ code: 'custom', message, input, params: { ...params } });
  return z.NEVER;
}
