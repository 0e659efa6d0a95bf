import { z } from 'zod';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { issueAt, labelName, re2Pattern } from '../../labels/config.ts';
import { regexProblem } from '../../labels/regex.ts';

/**
 * A metric name, or `/regexp/` (RE2, anchored: `/ebpf_.*_total/`). A regexp that does
 * not compile is ERR_CONFIG_REGEXP at the construct RE2 refused.
 */
const namePattern = z.string().superRefine((text, ctx) => {
  if (text === '') {
    issueAt(ctx, [], C.value, 'expected a metric name or /regexp/, got ""', text);
    return;
  }
  if (!isRegexName(text)) return;
  const p = regexProblem(text.slice(1, -1));
  if (p) {
    issueAt(
      ctx,
      [],
      C.regexp,
      `not a valid RE2 regexp: ${p.message}`,
      text,
      p.offset === undefined ? undefined : p.offset + 1,
    );
  }
});

/** `/…/` with at least one character between the slashes. */
export function isRegexName(text: string): boolean {
  return text.length >= 3 && text.startsWith('/') && text.endsWith('/');
}

export const MATCH_OPS = ['=', '!=', '=~', '!~'] as const;
export type MatchOp = (typeof MATCH_OPS)[number];

/**
 * A Prometheus label matcher: `{label, value}` (op `=` or `!=`, default `=`) or
 * `{label, regex}` (op `=~` or `!~`, default `=~`; RE2, anchored). A missing label
 * reads as "", so `{label: x, value: ""}` matches points without `x`.
 */
const matcherSchema = z
  .strictObject({
    label: labelName(),
    op: z.enum(MATCH_OPS).optional(),
    value: z.string().optional(),
    regex: re2Pattern().optional(),
  })
  .superRefine((m, ctx) => {
    if (m.value === undefined && m.regex === undefined) {
      issueAt(ctx, [], C.missing, "a matcher needs 'value' (for = and !=) or 'regex' (for =~ and !~)", m);
      return;
    }
    if (m.value !== undefined && m.regex !== undefined) {
      issueAt(ctx, ['regex'], C.value, "give either 'value' or 'regex', not both", m.regex);
      return;
    }
    if (m.op === undefined) return;
    if (m.value !== undefined && m.op !== '=' && m.op !== '!=') {
      issueAt(ctx, ['op'], C.value, `op ${m.op} takes 'regex', not 'value'`, m.op);
    }
    if (m.regex !== undefined && m.op !== '=~' && m.op !== '!~') {
      issueAt(ctx, ['op'], C.value, `op ${m.op} takes 'value', not 'regex'`, m.op);
    }
  });

export type MatcherConfig = z.infer<typeof matcherSchema>;

export const configSchema = z.strictObject({
  /** Whole metrics by name: kept when `include` is absent or one entry matches, and none of `exclude` does. */
  metrics: z
    .strictObject({
      include: z.array(namePattern).min(1, 'list at least one name, or leave include out').optional(),
      exclude: z.array(namePattern).default([]),
    })
    .prefault({}),
  /**
   * Points by labels (`__name__` is the metric name). `include`: kept only when every
   * matcher matches. `exclude`: dropped when every matcher matches.
   */
  datapoints: z
    .strictObject({
      include: z.array(matcherSchema).min(1, 'list at least one matcher, or leave include out').optional(),
      exclude: z.array(matcherSchema).default([]),
    })
    .prefault({}),
});

export type FilterProcessorConfig = z.infer<typeof configSchema>;
