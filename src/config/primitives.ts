/** Config value primitives: duration, size and host:port schemas and their parse/format functions. */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { CONFIG_ERROR_CODES as C } from './codes.ts';
import { describeInput, quote } from './describe.ts';
import { encodedAs } from './encode.ts';
import { configIssue, type Ctx } from './issue.ts';

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

/**
 * Longest duration any key accepts: Node's timers hold 2^31-1 ms (24.8 days) and fire a
 * longer one after 1 ms, which would turn `poll_interval: 30d` into a busy loop.
 */
export const MAX_DURATION_MS = 2_147_483_647;

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
  const max = opts.maxMs ?? MAX_DURATION_MS;
  if (ms > max) {
    return configIssue(
      ctx,
      input,
      C.value,
      `expected a duration of at most ${formatDuration(max)}, got ${shown}`,
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
