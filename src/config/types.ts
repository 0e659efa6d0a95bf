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
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { CONFIG_ERROR_CODES as C, type ConfigErrorCode } from './codes.ts';
import { describeInput, listOf, quote, suggestion } from './describe.ts';

/** Params on custom issues: read by validate(). */
export interface ConfigIssueParams {
  readonly configCode: ConfigErrorCode;
  /** For type errors: what was expected, e.g. `a duration like "15s"` (used to merge union branches). */
  readonly expected?: string;
  /** For problems inside a string (a regexp): the character offset the position points at. */
  readonly offset?: number;
}

type Ctx = z.core.$RefinementCtx;

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

// ---------------------------------------------------------------------------------------
// encoding back to what a user writes (print-config)

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
  const def = (schema as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
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
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
      return encodeConfig(def['innerType'] as z.ZodType, value, opts);
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
  const def = (schema as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
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
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
      return secretKeyPaths(def['innerType'] as z.ZodType, prefix);
    case 'pipe':
      return [
        ...secretKeyPaths(def['in'] as z.ZodType, prefix),
        ...secretKeyPaths(def['out'] as z.ZodType, prefix),
      ].filter((p, i, all) => all.indexOf(p) === i);
    default:
      return [];
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------
// duration

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 micro sign
  μs: 1e-3, // U+03BC greek mu
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
const DURATION_EXPECTED = 'a duration like "15s"';

/** Go-style duration (`250ms`, `1m30s`, `1.5h`, `100us`, `0`) → milliseconds, or an error text. */
export function parseDuration(text: string): number | string {
  const s = text.trim();
  if (s === '0') return 0;
  if (s.startsWith('-')) return 'durations cannot be negative';
  if (s === '') return 'the duration is empty';
  let ms = 0;
  let at = 0;
  DURATION_PART.lastIndex = 0;
  while (at < s.length) {
    DURATION_PART.lastIndex = at;
    const m = DURATION_PART.exec(s);
    if (!m) {
      return /^\d+(\.\d+)?$/.test(s)
        ? `a unit is missing (ns, us, ms, s, m, h), e.g. "${s}s"`
        : 'units are ns, us, ms, s, m, h, e.g. "1m30s"';
    }
    ms += Number(m[1]) * (DURATION_UNITS_MS[m[2] as string] as number);
    at = DURATION_PART.lastIndex;
  }
  if (!Number.isFinite(ms) || ms > Number.MAX_SAFE_INTEGER) return 'the duration is too long';
  return ms;
}

/** 90000 → `1m30s`, 250 → `250ms`, 0.1 → `100us`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1) return `${Math.round(ms * 1000)}us`;
  if (ms < 1000) return `${ms}ms`;
  let rest = ms;
  let out = '';
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}

export interface DurationOptions {
  readonly minMs?: number;
  readonly maxMs?: number;
}

/**
 * A duration string → milliseconds. Numbers are rejected (is `15` seconds or
 * milliseconds?) except a bare `0`.
 */
export function duration(opts: DurationOptions = {}): z.ZodType<number, unknown> {
  return encodedAs(
    formatDuration,
    z.unknown().transform((input, ctx): number => {
      if (input === 0) return checkRange(0, input, opts, ctx);
      if (typeof input !== 'string') {
        return configIssue(
          ctx,
          input,
          C.type,
          `expected ${DURATION_EXPECTED}, got ${describeInput(input)}`,
          DURATION_EXPECTED,
        );
      }
      const ms = parseDuration(input);
      if (typeof ms === 'string') {
        return configIssue(ctx, input, C.value, `expected ${DURATION_EXPECTED}, got ${quote(input)}: ${ms}`);
      }
      return checkRange(ms, input, opts, ctx);
    }),
    { anyOf: [{ type: 'string', pattern: '^\\s*(\\d|\\.)', description: DURATION_EXPECTED }, { const: 0 }] },
  );
}

function checkRange(ms: number, input: unknown, opts: DurationOptions, ctx: Ctx): number {
  const shown = typeof input === 'string' ? quote(input) : String(input);
  if (opts.minMs !== undefined && ms < opts.minMs) {
    return configIssue(
      ctx,
      input,
      C.value,
      `expected a duration of at least ${formatDuration(opts.minMs)}, got ${shown}`,
    );
  }
  if (opts.maxMs !== undefined && ms > opts.maxMs) {
    return configIssue(
      ctx,
      input,
      C.value,
      `expected a duration of at most ${formatDuration(opts.maxMs)}, got ${shown}`,
    );
  }
  return ms;
}

// ---------------------------------------------------------------------------------------
// size

/** SI (1000) and IEC (1024) units; bare `k`/`M` are refused as ambiguous. */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  kB: 1e3,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};
const SIZE_EXPECTED = 'a size like "4MiB"';
const SIZE_UNIT_LIST = 'B, KiB, MiB, GiB, TiB (1024) or kB, MB, GB, TB (1000)';

/** `4MiB` → 4194304, `512KiB`, `1.5GB`, `4096` → bytes, or an error text. */
export function parseSize(text: string): number | string {
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(text.trim());
  if (!m) return `units are ${SIZE_UNIT_LIST}`;
  const unit = m[2] || 'B';
  const mult = SIZE_UNITS[unit];
  if (mult === undefined) return `unknown unit "${unit}"; units are ${SIZE_UNIT_LIST}`;
  const bytes = Number(m[1]) * mult;
  const whole = Math.round(bytes);
  if (Math.abs(bytes - whole) > 1e-6 * Math.max(1, bytes)) return 'not a whole number of bytes';
  if (!Number.isSafeInteger(whole)) return 'the size is too large';
  return whole;
}

export interface SizeOptions {
  readonly min?: number;
  readonly max?: number;
}

/** A size in bytes: a string with a unit, or a non-negative integer (bytes). */
export function size(opts: SizeOptions = {}): z.ZodType<number, unknown> {
  return encodedAs(
    (bytes: number) => bytes,
    z.unknown().transform((input, ctx): number => {
      let bytes: number;
      if (typeof input === 'number') {
        if (!Number.isSafeInteger(input) || input < 0) {
          return configIssue(
            ctx,
            input,
            C.value,
            `expected ${SIZE_EXPECTED} or a whole number of bytes, got ${input}`,
          );
        }
        bytes = input;
      } else if (typeof input === 'string') {
        const r = parseSize(input);
        if (typeof r === 'string')
          return configIssue(ctx, input, C.value, `expected ${SIZE_EXPECTED}, got ${quote(input)}: ${r}`);
        bytes = r;
      } else {
        return configIssue(
          ctx,
          input,
          C.type,
          `expected ${SIZE_EXPECTED}, got ${describeInput(input)}`,
          SIZE_EXPECTED,
        );
      }
      if (opts.min !== undefined && bytes < opts.min) {
        return configIssue(ctx, input, C.value, `expected at least ${opts.min} bytes, got ${bytes}`);
      }
      if (opts.max !== undefined && bytes > opts.max) {
        return configIssue(ctx, input, C.value, `expected at most ${opts.max} bytes, got ${bytes}`);
      }
      return bytes;
    }),
    {
      anyOf: [
        { type: 'string', description: SIZE_EXPECTED },
        { type: 'integer', minimum: 0 },
      ],
    },
  );
}

// ---------------------------------------------------------------------------------------
// host:port

export interface HostPort {
  /** Empty for `:9435` (all interfaces). IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const HOSTPORT_EXPECTED = 'an address like "0.0.0.0:9435"';

/** `0.0.0.0:9435`, `[::1]:9435`, `:9435`, `localhost:0` → {host, port}, or an error text. */
export function parseHostPort(text: string): HostPort | string {
  let host: string;
  let port: string;
  if (text.startsWith('[')) {
    const m = /^\[([^\]]*)\]:(.*)$/.exec(text);
    if (!m) return 'write IPv6 addresses as "[::1]:9435"';
    host = m[1] as string;
    port = m[2] as string;
    if (!isIPv6(host)) return `"${host}" is not an IPv6 address`;
  } else {
    const i = text.lastIndexOf(':');
    if (i < 0) return 'the port is missing';
    host = text.slice(0, i);
    port = text.slice(i + 1);
    if (host.includes(':')) return `write IPv6 addresses in brackets, like "[${host}]:${port}"`;
    if (host !== '' && !isIPv4(host) && !HOSTNAME.test(host))
      return `"${host}" is not a valid host name or IP address`;
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535)
    return `the port must be a number from 0 to 65535, got "${port}"`;
  return { host, port: Number(port) };
}

export function formatHostPort(hp: HostPort): string {
  return `${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}`;
}

export function hostPort(): z.ZodType<HostPort, unknown> {
  return encodedAs(
    formatHostPort,
    z.unknown().transform((input, ctx): HostPort => {
      if (typeof input !== 'string') {
        return configIssue(
          ctx,
          input,
          C.type,
          `expected ${HOSTPORT_EXPECTED}, got ${describeInput(input)}`,
          HOSTPORT_EXPECTED,
        );
      }
      const r = parseHostPort(input);
      if (typeof r === 'string')
        return configIssue(ctx, input, C.value, `expected ${HOSTPORT_EXPECTED}, got ${quote(input)}: ${r}`);
      return r;
    }),
    { type: 'string', description: HOSTPORT_EXPECTED },
  );
}

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
