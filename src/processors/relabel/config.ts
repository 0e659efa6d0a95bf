import { z } from 'zod';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { issueAt, labelName, re2Pattern } from '../../labels/config.ts';
import { isLabelName } from '../../labels/names.ts';

export const RELABEL_ACTIONS = [
  'replace',
  'keep',
  'drop',
  'hashmod',
  'labelmap',
  'labeldrop',
  'labelkeep',
  'lowercase',
  'uppercase',
  'keepequal',
  'dropequal',
] as const;
export type RelabelAction = (typeof RELABEL_ACTIONS)[number];

/** Prometheus's defaults (`DefaultRelabelConfig`). */
export const RELABEL_DEFAULTS = {
  separator: ';',
  regex: '(.*)',
  modulus: 0,
  target_label: '',
  replacement: '$1',
  action: 'replace',
} as const;

/** A target label that may hold `$1` / `${name}` references (Prometheus's `relabelTarget`). */
const TARGET_TEMPLATE = /^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$/;

const ruleSchema = z
  .strictObject({
    /** Labels whose values are joined with `separator` into the value `regex` matches. */
    source_labels: z.array(labelName()).optional(),
    separator: z.string().default(RELABEL_DEFAULTS.separator),
    /** RE2, anchored at both ends; compiled as `^(?s:<regex>)$` (Prometheus 3). */
    regex: re2Pattern().default(RELABEL_DEFAULTS.regex),
    /** For `hashmod`. */
    modulus: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(RELABEL_DEFAULTS.modulus),
    target_label: z.string().default(RELABEL_DEFAULTS.target_label),
    /** Go template: `$1`, `${1}`, `${name}`, `$$`. */
    replacement: z.string().default(RELABEL_DEFAULTS.replacement),
    /** Case-insensitive, as in Prometheus. */
    action: z
      .preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), z.enum(RELABEL_ACTIONS))
      .default(RELABEL_DEFAULTS.action),
  })
  .superRefine(checkRule);

export type RelabelRule = z.infer<typeof ruleSchema>;

export const configSchema = z.strictObject({
  /** Applied in order to every point; a `drop` (or failed `keep`) stops and discards it. */
  metric_relabel_configs: z.array(ruleSchema).default([]),
});

export type RelabelProcessorConfig = z.infer<typeof configSchema>;

// ---------------------------------------------------------------------------------------

type Ctx = z.core.$RefinementCtx;
const issue = issueAt;
/** Prometheus's `Config.Validate`, each problem at the key it is about. */
function checkRule(r: RelabelRule, ctx: Ctx): void {
  const a = r.action;
  if (a === 'hashmod' && r.modulus === 0) {
    issue(ctx, [], C.missing, 'the hashmod action requires a modulus greater than 0', r);
  }
  const needsTarget = ['replace', 'hashmod', 'lowercase', 'uppercase', 'keepequal', 'dropequal'].includes(a);
  if (needsTarget && r.target_label === '') {
    issue(ctx, [], C.missing, `the ${a} action requires 'target_label'`, r);
  } else if (needsTarget) {
    const t = r.target_label;
    const ok =
      a === 'replace' ? (t.includes('$') ? TARGET_TEMPLATE.test(t) : isLabelName(t)) : isLabelName(t);
    if (!ok) {
      const how = a === 'replace' ? 'a label name, optionally with $1 / ${name} references' : 'a label name';
      issue(
        ctx,
        ['target_label'],
        C.value,
        `${JSON.stringify(t)} is invalid 'target_label' for ${a}: expected ${how}`,
        t,
      );
    }
  }
  if ((a === 'lowercase' || a === 'uppercase') && r.replacement !== RELABEL_DEFAULTS.replacement) {
    issue(ctx, ['replacement'], C.value, `'replacement' can not be set for the ${a} action`, r.replacement);
  }
  if (a === 'labelmap' && !TARGET_TEMPLATE.test(r.replacement)) {
    issue(
      ctx,
      ['replacement'],
      C.value,
      `${JSON.stringify(r.replacement)} is invalid 'replacement' for labelmap: expected a label name, optionally with $1 / \${name} references`,
      r.replacement,
    );
  }
  if (a === 'keepequal' || a === 'dropequal') {
    for (const key of ['regex', 'modulus', 'separator', 'replacement'] as const) {
      if (r[key] !== RELABEL_DEFAULTS[key]) {
        issue(ctx, [key], C.value, `the ${a} action takes only 'source_labels' and 'target_label'`, r[key]);
      }
    }
  }
  if (a === 'labeldrop' || a === 'labelkeep') {
    if (r.source_labels !== undefined) {
      issue(ctx, ['source_labels'], C.value, `the ${a} action takes only 'regex'`, r.source_labels);
    }
    for (const key of ['target_label', 'modulus', 'separator', 'replacement'] as const) {
      if (r[key] !== RELABEL_DEFAULTS[key]) {
        issue(ctx, [key], C.value, `the ${a} action takes only 'regex'`, r[key]);
      }
    }
  }
}
