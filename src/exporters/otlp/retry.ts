import { status as grpcStatus } from '@grpc/grpc-js';
import { retryDelayMs, STATUS_DETAILS_KEY } from './retry-info.ts';

/**
 * Retry policy of the OTLP exporters (sender.ts), one rule for every signal and protocol.
 * opentelemetry-js has none we can use: its gRPC exporter does not retry at all, its HTTP
 * one makes at most 5 attempts within one timeout, and neither is configurable.
 */

/**
 * gRPC codes the OTLP specification calls retryable: CANCELLED, DEADLINE_EXCEEDED, ABORTED,
 * OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS; RESOURCE_EXHAUSTED only when the server says when
 * (a RetryInfo), as the Collector does — otherwise it may be a request too large to ever pass.
 */
export const RETRYABLE_GRPC_CODES: ReadonlySet<number> = new Set([1, 4, 10, 11, 14, 15]);
const RESOURCE_EXHAUSTED = 8;

/** The gRPC status code of an export error, when it has one (local errors have none). */
export function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'number' && Number.isInteger(code) ? code : undefined;
}

/** HTTP statuses the OTLP/HTTP specification calls retryable. */
export const RETRYABLE_HTTP_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/**
 * An OTLP/HTTP export that failed: the status the receiver answered (undefined when no
 * answer came: connection refused, reset, timed out — all retryable, as gRPC's UNAVAILABLE),
 * and the wait its `Retry-After` asked for.
 */
export class HttpExportError extends Error {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(message: string, status?: number, retryAfterMs?: number) {
    super(message);
    this.name = 'HttpExportError';
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** `Retry-After` as milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The wait the receiver asked for, in milliseconds: an OTLP/HTTP `Retry-After` (429, 503),
 * or the `retry_delay` of a gRPC RetryInfo in the status details; undefined when none.
 */
export function serverDelayMs(err: unknown): number | undefined {
  if (err instanceof HttpExportError) return err.retryAfterMs;
  const metadata = (err as { metadata?: unknown } | null | undefined)?.metadata;
  if (typeof (metadata as { get?: unknown } | undefined)?.get !== 'function') return undefined;
  const values = (metadata as { get(key: string): unknown[] }).get(STATUS_DETAILS_KEY);
  const details = values[0];
  return details instanceof Uint8Array ? retryDelayMs(details) : undefined;
}

export function isRetryable(err: unknown): boolean {
  if (err instanceof HttpExportError)
    return err.status === undefined || RETRYABLE_HTTP_STATUSES.has(err.status);
  const code = grpcCode(err);
  if (code === RESOURCE_EXHAUSTED) return serverDelayMs(err) !== undefined;
  return code !== undefined && RETRYABLE_GRPC_CODES.has(code);
}

/** `UNAVAILABLE: No connection established` — the code by name, then the server's details. */
export function describeExportError(err: unknown): string {
  if (err instanceof HttpExportError) return err.message;
  const code = grpcCode(err);
  if (code === undefined) return err instanceof Error ? err.message : String(err);
  const name = (grpcStatus as unknown as Record<number, string | undefined>)[code] ?? `code ${code}`;
  const details = (err as { details?: unknown }).details;
  return typeof details === 'string' && details !== '' ? `${name}: ${details}` : name;
}

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Growth per attempt (the Collector's 1.5). */
  readonly multiplier?: number;
  /** Jitter: the wait is drawn from interval × [1 − r, 1 + r] (the Collector's 0.5). */
  readonly randomization?: number;
}

/** Wait before retry number `retry` (0 for the first): exponential, capped, with jitter. */
export function backoffDelay(
  retry: number,
  opts: BackoffOptions,
  random: () => number = Math.random,
): number {
  const multiplier = opts.multiplier ?? 1.5;
  const r = opts.randomization ?? 0.5;
  const interval = Math.min(opts.initialMs * multiplier ** retry, opts.maxMs);
  return Math.max(0, Math.round(interval * (1 - r + 2 * r * random())));
}

/** Resolves true after `ms`, or false as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** True if `p` settles within `ms`, false otherwise (never rejects; `p` keeps running). */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  const settled = p.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RetryPolicy {
  readonly enabled: boolean;
  readonly initial_interval: number;
  readonly max_interval: number;
  readonly multiplier: number;
  readonly randomization_factor: number;
  /** 0: no limit. */
  readonly max_elapsed_time: number;
}

/**
 * After a failed attempt: the backoff before the next one, and why to give up
 * instead (undefined: retry). One rule for every signal and protocol. The wait a receiver
 * asks for (HTTP `Retry-After`, gRPC RetryInfo) replaces the backoff, capped at
 * `max_interval` (a receiver cannot stall the exporter for longer than its own backoff
 * would), and is bounded by `max_elapsed_time` like any wait.
 */
export function retryDecision(
  error: unknown,
  retries: number,
  startedMs: number,
  retry: RetryPolicy,
  closing: boolean,
): { delay: number; giveUp: string | undefined } {
  const asked = serverDelayMs(error);
  const delay =
    asked !== undefined
      ? Math.min(asked, retry.max_interval)
      : backoffDelay(retries, {
          initialMs: retry.initial_interval,
          maxMs: retry.max_interval,
          multiplier: retry.multiplier,
          randomization: retry.randomization_factor,
        });
  const giveUp = !isRetryable(error)
    ? 'not retryable'
    : !retry.enabled
      ? 'retry disabled'
      : closing
        ? 'shutting down'
        : retry.max_elapsed_time > 0 && Date.now() + delay - startedMs > retry.max_elapsed_time
          ? `retried for ${Date.now() - startedMs}ms (max_elapsed_time)`
          : undefined;
  return { delay, giveUp };
}
