import { z } from 'zod';
import { factories } from './components.ts';
import { serviceSchema } from './config/service.ts';

type JsonSchema = Record<string, unknown>;

/** JSON Schema of what users write: the input side of every schema (durations as strings, defaults optional). */
function inputSchema(schema: z.ZodType): JsonSchema {
  const out = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-2020-12',
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
      extensions: { type: ['object', 'null'] },
      service: inputSchema(serviceSchema),
    },
    required: ['service'],
    additionalProperties: false,
  };
}
