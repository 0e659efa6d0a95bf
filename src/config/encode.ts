/** Config values back in the form a user writes (print-config), secrets and the schema command's JSON Schemas. */
import type { z } from 'zod';

/** Schemas whose parsed value is not what the user writes, with how to write it back. */
const ENCODERS = new WeakMap<z.ZodType, (value: never) => unknown>();

/** JSON Schemas of what users write, for schemas zod cannot describe (transforms). */
const JSON_SCHEMAS = new WeakMap<z.ZodType, Record<string, unknown>>();

/**
 * Register how `schema`'s parsed value is written in YAML (`15000` → `"15s"`) and, for the
 * `schema` command, a JSON Schema of that written form; returns `schema`.
 */
export function encodedAs<T extends z.ZodType>(
  encode: (value: z.output<T>) => unknown,
  schema: T,
  jsonSchema: Record<string, unknown> = {},
): T {
  ENCODERS.set(schema, encode);
  JSON_SCHEMAS.set(schema, jsonSchema);
  return schema;
}

/** The JSON Schema registered with encodedAs, if any. */
export function writtenJsonSchema(schema: z.ZodType): Record<string, unknown> | undefined {
  return JSON_SCHEMAS.get(schema);
}

/** Schemas whose values are secrets (passwords, keys, header values). */
const SECRETS = new WeakSet<z.ZodType>();

/** What print-config shows instead of a secret. */
export const REDACTED = '<redacted>';

/**
 * Mark `schema`'s values as secrets: print-config shows them as `<redacted>` unless
 * `--show-secrets`. The mark sits on the field itself, so every secret-bearing key is
 * declared once, where its schema is (`secretKeyPaths` lists them). It marks this schema
 * object: pass one made for the field, not one shared with fields that are not secret.
 */
export function secret<T extends z.ZodType>(schema: T): T {
  SECRETS.add(schema);
  return schema;
}

export function isSecret(schema: z.ZodType): boolean {
  return SECRETS.has(schema);
}

/**
 * For config parts no schema of ours describes (the `extensions:` section, kept as
 * written): keys whose value is a secret, and maps whose every value is one.
 */
const SCHEMALESS_SECRET_KEYS =
  /^(password|passwd|token|bearer_token|client_secret|api_key|key|private_key|secret)$/i;
const SCHEMALESS_SECRET_MAPS = /^(headers|basic_auth_users)$/i;

/** `value` with the secrets of schemaless config redacted (see SCHEMALESS_SECRET_KEYS). */
export function redactSchemaless(value: unknown, secretMap = false): unknown {
  if (Array.isArray(value)) return value.map((v) => redactSchemaless(v));
  if (!isRecord(value)) return secretMap && value !== null && value !== undefined ? REDACTED : value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      secretMap || (SCHEMALESS_SECRET_KEYS.test(k) && !isRecord(v) && !Array.isArray(v) && v !== null)
        ? isRecord(v)
          ? redactSchemaless(v, true)
          : REDACTED
        : redactSchemaless(v, SCHEMALESS_SECRET_MAPS.test(k)),
    ]),
  );
}

export interface EncodeOptions {
  /** Print secrets as they are (print-config --show-secrets). */
  readonly showSecrets?: boolean;
}

/**
 * A parsed (defaulted) config value back in the form a user writes, so it validates again:
 * durations as `15s`, addresses as `host:port`. Walks the schema beside the value; parts
 * without a registered encoder are kept as they are.
 */
export function encodeConfig(schema: z.ZodType, value: unknown, opts: EncodeOptions = {}): unknown {
  if (value === undefined) return undefined;
  if (!opts.showSecrets && SECRETS.has(schema)) return REDACTED;
  const encode = ENCODERS.get(schema);
  if (encode) return encode(value as never);
  const def = defOf(schema);
  const inner = wrappedSchema(def);
  if (inner) return encodeConfig(inner, value, opts);
  switch (def.type) {
    case 'object': {
      if (!isRecord(value)) return value;
      const shape = def['shape'] as Record<string, z.ZodType>;
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, shape[k] ? encodeConfig(shape[k], v, opts) : v]),
      );
    }
    case 'record':
      return isRecord(value)
        ? Object.fromEntries(
            Object.entries(value).map(([k, v]) => [k, encodeConfig(def['valueType'] as z.ZodType, v, opts)]),
          )
        : value;
    case 'array':
      return Array.isArray(value)
        ? value.map((v) => encodeConfig(def['element'] as z.ZodType, v, opts))
        : value;
    case 'pipe':
      // z.preprocess(f, schema): the value is schema's; a .transform() output stays as it is.
      return encodeConfig(def['out'] as z.ZodType, value, opts);
    default:
      return value;
  }
}

/**
 * Where `schema` holds secrets, as key paths (`headers.*`: every value of the map;
 * `tls_server_config.key`): the one list of secret-bearing keys, read off the schemas.
 */
export function secretKeyPaths(schema: z.ZodType, prefix = ''): string[] {
  if (SECRETS.has(schema)) return [prefix];
  const def = defOf(schema);
  const inner = wrappedSchema(def);
  if (inner) return secretKeyPaths(inner, prefix);
  const join = (k: string): string => (prefix === '' ? k : `${prefix}.${k}`);
  switch (def.type) {
    case 'object':
      return Object.entries(def['shape'] as Record<string, z.ZodType>).flatMap(([k, v]) =>
        secretKeyPaths(v, join(k)),
      );
    case 'record':
      return secretKeyPaths(def['valueType'] as z.ZodType, join('*'));
    case 'array':
      return secretKeyPaths(def['element'] as z.ZodType, join('*'));
    case 'pipe':
      return [
        ...secretKeyPaths(def['in'] as z.ZodType, prefix),
        ...secretKeyPaths(def['out'] as z.ZodType, prefix),
      ].filter((p, i, all) => all.indexOf(p) === i);
    default:
      return [];
  }
}

type SchemaDef = Record<string, unknown> & { type: string };

/** zod's definition of `schema`: its kind (`def.type`) and parts. */
function defOf(schema: z.ZodType): SchemaDef {
  return (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
}

/**
 * The schema a wrapper (optional, nullable, default, prefault, nonoptional, readonly,
 * catch) wraps, whose values and secrets are the wrapper's; undefined for other kinds.
 */
function wrappedSchema(def: SchemaDef): z.ZodType | undefined {
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
      return def['innerType'] as z.ZodType;
    default:
      return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
