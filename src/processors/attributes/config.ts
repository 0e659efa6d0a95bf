import { z } from 'zod';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { checkValueSource, issueAt, labelName, re2Pattern } from '../../labels/config.ts';
import { METRIC_NAME_LABEL } from '../../labels/names.ts';

export const ATTRIBUTE_ACTIONS = ['insert', 'update', 'upsert', 'delete', 'hash'] as const;
export type AttributeAction = (typeof ATTRIBUTE_ACTIONS)[number];

const SETS = new Set<AttributeAction>(['insert', 'update', 'upsert']);

/**
 * One action, as the collector's attributes processor writes it (a subset):
 *   insert / update / upsert: `key` with `value` or `from_attribute`
 *   delete / hash:            `key` and/or `pattern` (RE2, anchored, matched against label names)
 */
const actionSchema = z
  .strictObject({
    key: labelName().optional(),
    pattern: re2Pattern().optional(),
    action: z.enum(ATTRIBUTE_ACTIONS),
    /** Written as text; numbers and booleans are turned into their text. */
    value: z.union([z.string(), z.number(), z.boolean()]).optional(),
    from_attribute: labelName().optional(),
  })
  .superRefine((a, ctx) => {
    if (a.key === METRIC_NAME_LABEL || a.from_attribute === METRIC_NAME_LABEL) {
      const where = a.key === METRIC_NAME_LABEL ? 'key' : 'from_attribute';
      issueAt(
        ctx,
        [where],
        C.value,
        `${METRIC_NAME_LABEL} is the metric name, not a label; use the relabel processor`,
        METRIC_NAME_LABEL,
      );
    }
    if (SETS.has(a.action)) {
      if (a.key === undefined) issueAt(ctx, [], C.missing, `the ${a.action} action requires 'key'`, a);
      if (a.pattern !== undefined) {
        issueAt(ctx, ['pattern'], C.value, `'pattern' is for delete and hash, not ${a.action}`, a.pattern);
      }
      checkValueSource(ctx, a, true);
      return;
    }
    if (a.key === undefined && a.pattern === undefined) {
      issueAt(ctx, [], C.missing, `the ${a.action} action requires 'key' or 'pattern'`, a);
    }
    checkValueSource(ctx, a, false);
  });

export type AttributeActionConfig = z.infer<typeof actionSchema>;

export const configSchema = z.strictObject({
  /** Applied in order to every point whose labels are final. */
  actions: z.array(actionSchema).min(1, 'list at least one action'),
});

export type AttributesProcessorConfig = z.infer<typeof configSchema>;
