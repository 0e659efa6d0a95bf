import { z } from 'zod';
import { checkValueSource } from '../../labels/config.ts';

export const RESOURCE_ACTIONS = ['insert', 'update', 'upsert', 'delete', 'hash'] as const;
export type ResourceAction = (typeof RESOURCE_ACTIONS)[number];

const SETS = new Set<ResourceAction>(['insert', 'update', 'upsert']);

/** A resource attribute key: any non-empty text (OpenTelemetry keys are dotted: `k8s.cluster.name`). */
const attributeKey = z.string().min(1, 'expected a non-empty attribute key');

/**
 * One action, as the collector's resource processor writes it (a subset):
 *   insert / update / upsert: `key` with `value` or `from_attribute`
 *   delete / hash:            `key`
 */
const actionSchema = z
  .strictObject({
    key: attributeKey,
    action: z.enum(RESOURCE_ACTIONS),
    /** Written as text; numbers and booleans are turned into their text. */
    value: z.union([z.string(), z.number(), z.boolean()]).optional(),
    from_attribute: attributeKey.optional(),
  })
  .superRefine((a, ctx) => checkValueSource(ctx, a, SETS.has(a.action)));

export type ResourceActionConfig = z.infer<typeof actionSchema>;

export const configSchema = z.strictObject({
  /** Applied in order to the resource attributes of every batch. */
  attributes: z.array(actionSchema).min(1, 'list at least one action'),
});

export type ResourceProcessorConfig = z.infer<typeof configSchema>;
