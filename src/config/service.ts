/**
 * The collector's top-level config shape and the checks that span sections:
 *
 *   receivers:  { <id>: <config> }      ids are `type[/name]`; each config is checked later
 *   processors: { <id>: <config> }      by its component's own schema (an empty value is {})
 *   exporters:  { <id>: <config> }
 *   extensions: { <id>: <config> }
 *   service:
 *     extensions: [<extension id>]
 *     pipelines:
 *       <metrics | traces | logs [/name]>: { receivers: [ids], processors: [ids], exporters: [ids] }
 *     telemetry: { logs: { level, encoding }, metrics: { level, readers | address } }  (telemetry.ts)
 */
import { z } from 'zod';
import { CollectorError, sortErrors } from '../errors.ts';
import { CONFIG_ERROR_CODES as C } from './codes.ts';
import { listOf, quote, suggestion } from './describe.ts';
import { isPlainMap, valueAt, type LoadedConfig, type PathSegment } from './load.ts';
import { componentId, emptyAsMap, parseComponentId, typedId } from './types.ts';
import { telemetrySchema } from './telemetry.ts';
import { displayPath, validate } from './validate.ts';

/**
 * Pipeline data types: `metrics` (MetricBatch), `traces` (SpanBatch), `logs` (LogBatch).
 * Whether a component can take part in a traces or logs pipeline is checked when the
 * config is loaded (processor and exporter types) and when the agent is built (receivers,
 * whose streams depend on their config).
 */
export const PIPELINE_TYPES = ['metrics', 'traces', 'logs'] as const;
export type PipelineType = (typeof PIPELINE_TYPES)[number];

export const COMPONENT_KINDS = ['receivers', 'processors', 'exporters', 'extensions'] as const;
export type ComponentKind = (typeof COMPONENT_KINDS)[number];
const PIPELINE_KINDS = ['receivers', 'processors', 'exporters'] as const;

export { LOG_LEVELS, type LogLevel } from './telemetry.ts';

const SINGULAR: Readonly<Record<ComponentKind, string>> = {
  receivers: 'receiver',
  processors: 'processor',
  exporters: 'exporter',
  extensions: 'extension',
};

/** id → raw component config (`{}` when written empty); checked later by the component. */
const componentMap = emptyAsMap(
  z.record(
    componentId,
    z.unknown().transform((v) => v ?? {}),
  ),
);

/** A list of ids that may be omitted or written empty. */
const optionalIdList = z.preprocess((v) => v ?? [], z.array(componentId));

/** A required, non-empty list of ids; `what` is the singular, e.g. `receiver`. */
const requiredIdList = (what: string) => {
  const need = `a pipeline needs at least one ${what}`;
  return z
    .array(componentId, {
      error: (iss) => (iss.input === undefined ? `missing required key; ${need}` : undefined),
    })
    .min(1, { error: need });
};

export const pipelineSchema = z.strictObject({
  receivers: requiredIdList('receiver'),
  processors: optionalIdList,
  exporters: requiredIdList('exporter'),
});

export const serviceSchema = z.strictObject({
  extensions: optionalIdList,
  pipelines: z
    .record(typedId('pipeline', PIPELINE_TYPES), pipelineSchema)
    .refine((m) => Object.keys(m).length > 0, {
      error: 'define at least one pipeline, e.g. metrics: { receivers: [...], exporters: [...] }',
    }),
  telemetry: telemetrySchema,
});

export const serviceConfigSchema = z.strictObject({
  receivers: componentMap,
  processors: componentMap,
  exporters: componentMap,
  extensions: componentMap,
  service: serviceSchema,
});

export type PipelineConfig = z.output<typeof pipelineSchema>;
export type ServiceConfig = z.output<typeof serviceConfigSchema>;

export interface ServiceConfigResult {
  /** Set when there are no errors. */
  readonly config?: ServiceConfig;
  /** Sorted by file, line, column. */
  readonly errors: CollectorError[];
  /** Defined-but-unused components (ERR_CONFIG_UNUSED); the config is still usable. */
  readonly warnings: CollectorError[];
}

/**
 * Check the top-level shape, then the references between sections: every id a pipeline
 * (or service.extensions) lists must be defined, once per list; components nobody uses
 * are warnings. Component configs themselves are not checked here.
 */
export function parseServiceConfig(loaded: LoadedConfig): ServiceConfigResult {
  const shape = validate(serviceConfigSchema, loaded, []);
  const errors = [...shape.errors];
  const warnings: CollectorError[] = [];
  const root = loaded.value;

  const defined = new Map<ComponentKind, string[]>();
  for (const kind of COMPONENT_KINDS) {
    const section = root[kind];
    // Malformed ids are reported by the schema; leave them out of lists and warnings.
    const ids = isPlainMap(section) ? Object.keys(section) : [];
    defined.set(
      kind,
      ids.filter((id) => typeof parseComponentId(id) !== 'string'),
    );
  }
  const used = new Map<ComponentKind, Set<string>>(COMPONENT_KINDS.map((k) => [k, new Set<string>()]));

  const checkList = (kind: ComponentKind, listPath: PathSegment[], where: string): void => {
    const list = valueAt(root, listPath);
    if (!Array.isArray(list)) return;
    const seen = new Set<string>();
    list.forEach((id: unknown, i) => {
      // Non-strings and malformed ids are already reported by the schema.
      if (typeof id !== 'string' || typeof parseComponentId(id) === 'string') return;
      const path = [...listPath, i];
      const at = { position: loaded.positionOf(path), path: displayPath('', path) };
      used.get(kind)?.add(id);
      if (seen.has(id)) {
        errors.push(
          new CollectorError(C.value, `${SINGULAR[kind]} ${quote(id)} is listed twice in ${where}`, at),
        );
        return;
      }
      seen.add(id);
      const ids = defined.get(kind) ?? [];
      if (ids.includes(id)) return;
      errors.push(new CollectorError(C.reference, referenceMessage(kind, id, ids, defined), at));
    });
  };

  const pipelines = valueAt(root, ['service', 'pipelines']);
  if (isPlainMap(pipelines)) {
    for (const [pid, p] of Object.entries(pipelines)) {
      if (!isPlainMap(p)) continue;
      for (const kind of PIPELINE_KINDS)
        checkList(kind, ['service', 'pipelines', pid, kind], `pipeline ${quote(pid)}`);
    }
    checkList('extensions', ['service', 'extensions'], 'service.extensions');

    for (const kind of COMPONENT_KINDS) {
      for (const id of defined.get(kind) ?? []) {
        if (used.get(kind)?.has(id)) continue;
        const message =
          kind === 'extensions'
            ? `extension ${quote(id)} is defined but not enabled in service.extensions`
            : `${SINGULAR[kind]} ${quote(id)} is defined but not used in any pipeline`;
        warnings.push(
          new CollectorError(C.unused, message, {
            position: loaded.positionOf([kind, id], 'key'),
            path: displayPath(kind, [id]),
          }),
        );
      }
    }
  }

  const sorted = sortErrors(errors);
  if (sorted.length > 0) return { errors: sorted, warnings: sortErrors(warnings) };
  return { config: shape.value, errors: [], warnings: sortErrors(warnings) };
}

function referenceMessage(
  kind: ComponentKind,
  id: string,
  ids: readonly string[],
  defined: ReadonlyMap<ComponentKind, string[]>,
): string {
  const what = SINGULAR[kind];
  let msg = `references ${what} ${quote(id)} which is not configured; `;
  msg += ids.length > 0 ? `configured ${kind}: ${listOf(ids)}` : `no ${kind} are configured`;
  msg += suggestion(id, ids);
  const elsewhere = COMPONENT_KINDS.find((k) => k !== kind && defined.get(k)?.includes(id));
  if (elsewhere) msg += `; ${quote(id)} is defined under ${elsewhere}`;
  return msg;
}
