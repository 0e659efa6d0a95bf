import { z } from 'zod';
import { factories } from './components.ts';
import { extensionFactories } from './extensions/index.ts';
import { PIPELINE_TYPES, serviceSchema } from './config/service.ts';
import { writtenJsonSchema } from './config/types.ts';

type JsonSchema = Record<string, unknown>;

/** JSON Schema of what users write: the input side of every schema (durations as strings, defaults optional). */
function inputSchema(schema: z.ZodType): JsonSchema {
  const out = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-2020-12',
    override: (ctx) => {
      const zs = ctx.zodSchema as unknown as z.ZodType;
      // Our transforms (durations, addresses) describe their written form themselves.
      const written = writtenJsonSchema(zs);
      if (written) {
        for (const k of Object.keys(ctx.jsonSchema)) delete (ctx.jsonSchema as JsonSchema)[k];
        Object.assign(ctx.jsonSchema, structuredClone(written));
        return;
      }
      // A key is required only when leaving it out fails: preprocessed keys (`telemetry:`,
      // `processors:`) take a default that zod cannot see through the preprocess.
      const def = (zs as unknown as { _zod: { def: { type: string; shape?: Record<string, z.ZodType> } } })
        ._zod.def;
      const required = (ctx.jsonSchema as JsonSchema)['required'];
      if (def.type === 'object' && def.shape && Array.isArray(required)) {
        const shape = def.shape;
        const still = (required as string[]).filter(
          (k) => !shape[k] || !shape[k].safeParse(undefined).success,
        );
        if (still.length > 0) (ctx.jsonSchema as JsonSchema)['required'] = still;
        else delete (ctx.jsonSchema as JsonSchema)['required'];
      }
    },
  }) as JsonSchema;
  delete out['$schema'];
  return out;
}

/**
 * A JSON Schema of the whole configuration for editors: each section maps
 * component ids (`type` or `type/name`) to that type's own schema.
 */
export function configJsonSchema(): JsonSchema {
  const section = (known: ReadonlyMap<string, { configSchema: z.ZodType }>): JsonSchema => ({
    type: ['object', 'null'],
    patternProperties: Object.fromEntries(
      [...known.entries()].map(([type, f]) => [
        `^${type}(/[^\\s]+)?$`,
        { anyOf: [inputSchema(f.configSchema), { type: 'null' }] },
      ]),
    ),
    additionalProperties: false,
  });
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'ebpf-collector configuration',
    type: 'object',
    properties: {
      receivers: section(factories.receivers),
      processors: section(factories.processors),
      exporters: section(factories.exporters),
      extensions: section(extensionFactories),
      service: withPipelineIds(inputSchema(serviceSchema)),
    },
    required: ['service'],
    additionalProperties: false,
  };
}

/** Pipeline ids are `<type>[/name]` with a type of PIPELINE_TYPES (`metrics`, `traces`, `logs`). */
function withPipelineIds(service: JsonSchema): JsonSchema {
  const pipelines = (service['properties'] as Record<string, JsonSchema> | undefined)?.['pipelines'];
  if (pipelines) {
    pipelines['propertyNames'] = { type: 'string', pattern: `^(${PIPELINE_TYPES.join('|')})(/[^\\s]+)?$` };
  }
  return service;
}
