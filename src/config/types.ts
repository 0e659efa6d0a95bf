/**
 * Reusable zod pieces for config schemas. Each reports its own problems as custom issues
 * carrying `params.configCode` (the ERR_CONFIG_* code) so `validate()` keeps the code and
 * message as written here.
 *
 *   poll_interval: duration({ minMs: 100 }).default(15_000)   // '15s' → 15000 (ms)
 *   ring_size:     size().default(4 * 1024 * 1024)            // '4MiB' → 4194304 (bytes)
 *   endpoint:      hostPort().default({ host: '0.0.0.0', port: 9435 })
 *
 * Note `.default(v)` takes the *parsed* value (ms, bytes, {host, port}); use
 * `.prefault('15s')` to write the default as the user would.
 */
import { z } from 'zod';
import { CONFIG_ERROR_CODES as C } from './codes.ts';
import { describeInput, listOf, quote, suggestion } from './describe.ts';
import { configIssue } from './issue.ts';

export { configIssue, type ConfigIssueParams } from './issue.ts';
export {
  REDACTED,
  encodeConfig,
  encodedAs,
  isSecret,
  redactSchemaless,
  secret,
  secretKeyPaths,
  writtenJsonSchema,
  type EncodeOptions,
} from './encode.ts';
export {
  duration,
  formatDuration,
  formatHostPort,
  hostPort,
  parseDuration,
  parseHostPort,
  parseSize,
  size,
  type DurationOptions,
  type HostPort,
  type SizeOptions,
} from './primitives.ts';

// ---------------------------------------------------------------------------------------
// component ids

/** Collector rule for the type part of `type[/name]`. */
export const COMPONENT_TYPE_PATTERN = /^[a-zA-Z][0-9a-zA-Z_]{0,62}$/;

export interface ComponentIdParts {
  readonly type: string;
  /** Everything after the first `/` (may itself contain `/`); undefined when absent. */
  readonly name: string | undefined;
}

/** Split and check `type[/name]`; an error text when invalid. */
export function parseComponentId(id: string): ComponentIdParts | string {
  const slash = id.indexOf('/');
  const type = slash < 0 ? id : id.slice(0, slash);
  const name = slash < 0 ? undefined : id.slice(slash + 1);
  if (type === '') return 'the type before "/" is empty';
  if (!COMPONENT_TYPE_PATTERN.test(type)) {
    return `the type "${type}" must start with a letter and hold only letters, digits and _ (at most 63 characters)`;
  }
  if (name !== undefined) {
    if (name === '') return 'the name after "/" is empty';
    // eslint-disable-next-line no-control-regex
    if (/[\s\u0000-\u001f\u007f]/u.test(name))
      return `the name "${name}" must not contain spaces or control characters`;
  }
  return { type, name };
}

/** A component id string (`ebpf`, `ebpf/timers`). Usable as a record key schema. */
export const componentId = z
  .string({ error: (iss) => `expected a component id like "ebpf/timers", got ${describeInput(iss.input)}` })
  .superRefine((id, ctx) => {
    const r = parseComponentId(id);
    if (typeof r === 'string') configIssue(ctx, id, C.componentId, `invalid component id ${quote(id)}: ${r}`);
  });

/** A component id whose type must be one of `types` (e.g. pipeline ids `metrics/fast`). */
export function typedId(what: string, types: readonly string[]): z.ZodString {
  return z
    .string({ error: (iss) => `expected a ${what} id like "${types[0]}", got ${describeInput(iss.input)}` })
    .superRefine((id, ctx) => {
      const r = parseComponentId(id);
      if (typeof r === 'string') {
        configIssue(ctx, id, C.componentId, `invalid ${what} id ${quote(id)}: ${r}`);
      } else if (!types.includes(r.type)) {
        configIssue(
          ctx,
          id,
          C.enum,
          `unknown ${what} type ${quote(r.type)}; expected one of ${listOf(types)}${suggestion(r.type, types)}`,
        );
      }
    });
}

// ---------------------------------------------------------------------------------------
// maps that may be written empty

/**
 * A map key that may be omitted or left empty (`telemetry:` with nothing under it): both
 * become `{}` before `schema` runs, so its defaults apply.
 */
export function emptyAsMap<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (v === null || v === undefined ? {} : v), schema);
}
