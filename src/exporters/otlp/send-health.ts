import type { Logger } from 'pino';

/** One summary line per this while sends keep failing. */
export const FAILURE_LOG_INTERVAL_MS = 60_000;

/**
 * Whether one signal's sends work, told once and then rate-limited: the first failed attempt
 * is a warning with its reason (refused, timed out, TLS …) — retried or not; while sends keep
 * failing, one line per `intervalMs` with the count since the last; the first success after
 * that, one info line. `problem()` is the line `/readyz` and `/status` show while failing.
 */
export class SendHealth {
  private readonly logger: Logger;
  private readonly what: string;
  private readonly intervalMs: number;
  private readonly now: () => number;
  /** Date.now() of the first failure of the current run of failures (undefined: working). */
  private since: number | undefined;
  private lastLogMs = 0;
  /** Failures since the last line; in the whole run. */
  private unlogged = 0;
  private total = 0;
  private lastReason = '';
  private successes = 0;

  constructor(logger: Logger, what: string, intervalMs = FAILURE_LOG_INTERVAL_MS, now = Date.now) {
    this.logger = logger;
    this.what = what;
    this.intervalMs = intervalMs;
    this.now = now;
  }

  get failing(): boolean {
    return this.since !== undefined;
  }

  /** A failed attempt (`fields`: retry, records …). */
  failed(reason: string, fields: Record<string, unknown> = {}): void {
    const now = this.now();
    this.lastReason = reason;
    this.total++;
    if (this.since === undefined) {
      this.since = now;
      this.lastLogMs = now;
      this.unlogged = 0;
      this.logger.warn({ ...fields, reason }, `${this.what} failing: ${reason}`);
      return;
    }
    this.unlogged++;
    if (now - this.lastLogMs < this.intervalMs) return;
    this.logger.warn(
      {
        ...fields,
        reason,
        failures: this.unlogged,
        failures_total: this.total,
        failing_for_s: Math.round((now - this.since) / 1000),
      },
      `${this.what} still failing: ${this.unlogged} failures in the last ${Math.round((now - this.lastLogMs) / 1000)}s; last: ${reason}`,
    );
    this.lastLogMs = now;
    this.unlogged = 0;
  }

  /** A delivered send. */
  succeeded(): void {
    this.successes++;
    if (this.since === undefined) return;
    const now = this.now();
    this.logger.info(
      { failures_total: this.total, failed_for_s: Math.round((now - this.since) / 1000) },
      `${this.what} recovered after ${this.total} failed attempts`,
    );
    this.since = undefined;
    this.total = 0;
    this.unlogged = 0;
  }

  /** While failing: what `/readyz` lists under degraded. */
  problem(): string | undefined {
    if (this.since === undefined) return undefined;
    return `${this.what} failing since ${new Date(this.since).toISOString()} (${this.total} failed attempts): ${this.lastReason}`;
  }

  /** For `/status`. */
  details(): Record<string, unknown> {
    return {
      failing: this.failing,
      ...(this.since !== undefined
        ? {
            failing_since: new Date(this.since).toISOString(),
            failed_attempts: this.total,
            last_error: this.lastReason,
          }
        : {}),
      successes: this.successes,
    };
  }
}
