import type { Logger } from 'pino';
import { messageOf } from '../../errors.ts';
import type { Host } from '../../pipeline/component.ts';
import type { SelfFamily } from '../../pipeline/telemetry.ts';
import type { OtlpSendSettings } from './config.ts';
import { describeExportError, retryDecision, sleep, within } from './retry.ts';
import { SendHealth } from './send-health.ts';
import type { OtlpSignal, OtlpTransport } from './transport.ts';

/**
 * The OTLP sender, one per signal of an exporter, in the way of the Collector's
 * exporterhelper: a bounded queue, batches, requests with a deadline (the transport's
 * `timeout`), retry with capped exponential backoff that honours the receiver's
 * `Retry-After` / RetryInfo (retry.ts), and every item accounted for exactly:
 *
 *   items taken in = exporter_sent_<unit>_total + exporter_dropped_<unit>_total{reason}
 *
 * where an item is a span, a log record or a metric point. Reasons: queue_full (the oldest
 * dropped for room), superseded (metrics: a newer collection replaced it; nothing is lost,
 * the newer points carry the counts), export_failed (given up: not retryable, retry off,
 * max_elapsed_time), rejected (the receiver's partial success), shutdown (left at
 * shutdown), invalid (cannot be encoded).
 *
 * Two kinds of data, one loop. Records (spans, log records) are sent once each: a FIFO of
 * `queue_size` records, batches of `batch.max_size` (a partial one after `flush_timeout`),
 * up to `num_consumers` requests in flight, a retry sends the same request. Metric
 * collections are cumulative: one collection waits at most, a newer one replaces it, and a
 * retry wait ends with the newest collection there is instead of the stale one (continuing
 * its backoff). A batch may be several requests (a collection: one per resource), sent in
 * order; a retry resends only the one that failed, never one already delivered.
 */

/** One request of a batch: its protobuf body and how many items it carries. */
export interface EncodedRequest {
  readonly body: Uint8Array;
  readonly items: number;
}

/** What the sender needs to know of a signal. */
export interface SendCodec<T> {
  readonly signal: OtlpSignal;
  /** `spans`, `log_records`, `metric_points`: the self-metrics' name part. */
  readonly unit: string;
  /** The newest entry supersedes the older ones (metric collections). */
  readonly cumulative: boolean;
  /** Drop reasons that can happen, registered at 0. */
  readonly reasons: readonly DropReason[];
  /** Items an entry stands for (1 for a record; a collection's points). */
  size(entry: T): number;
  /** Why an entry cannot be sent at all, or undefined. */
  problem(entry: T): string | undefined;
  /** A batch of entries as requests, in order; throws when it cannot be encoded. */
  encode(batch: readonly T[]): readonly EncodedRequest[];
  /** Items the receiver rejected (OTLP partial success), from its response. */
  rejected(response: Uint8Array): { count: number; message: string | undefined };
}

export const DROP_REASONS = [
  'queue_full',
  'superseded',
  'export_failed',
  'rejected',
  'shutdown',
  'invalid',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

const WORDS: Readonly<Record<string, string>> = {
  spans: 'Spans',
  log_records: 'Log records',
  metric_points: 'Metric data points',
};

/** A FIFO that holds at most `capacity` entries; pushing into a full one drops the oldest. */
export class BoundedQueue<T> {
  private items: T[] = [];
  private head = 0;
  private readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get length(): number {
    return this.items.length - this.head;
  }

  /** Returns the oldest entry when it was dropped to make room. */
  push(item: T): T | undefined {
    this.items.push(item);
    if (this.length <= this.capacity) return undefined;
    const dropped = this.items[this.head];
    this.head++;
    this.compact();
    return dropped;
  }

  take(n: number): T[] {
    const out = this.items.slice(this.head, this.head + n);
    this.head += out.length;
    this.compact();
    return out;
  }

  clear(): T[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

export class OtlpSender<T> {
  private readonly id: string;
  private readonly codec: SendCodec<T>;
  private readonly config: OtlpSendSettings;
  private readonly logger: Logger;
  private readonly queue: BoundedQueue<T>;
  private readonly maxBatch: number;
  private readonly abort = new AbortController();
  /** Items (records, points) waiting: the queue gauge. */
  private waiting = 0;
  private transport: OtlpTransport | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private closing = false;
  /** Failing or not, logged once then rate-limited; what /readyz shows. */
  readonly sends: SendHealth;
  private sent: SelfFamily | undefined;
  private dropped: SelfFamily | undefined;
  private requests: SelfFamily | undefined;
  private queueSize: SelfFamily | undefined;

  constructor(id: string, codec: SendCodec<T>, config: OtlpSendSettings, logger: Logger, endpoint = '') {
    this.id = id;
    this.codec = codec;
    this.config = config;
    this.logger = logger;
    this.queue = new BoundedQueue(codec.cumulative ? 1 : config.sending_queue.queue_size);
    this.maxBatch = codec.cumulative ? 1 : config.sending_queue.batch.max_size;
    this.sends = new SendHealth(logger, `OTLP ${codec.signal} export${endpoint ? ` to ${endpoint}` : ''}`);
  }

  get signal(): OtlpSignal {
    return this.codec.signal;
  }

  start(host: Host, transport: OtlpTransport): void {
    this.transport = transport;
    const u = this.codec.unit;
    const words = WORDS[u] ?? u;
    this.sent = host.telemetry.counter(
      `exporter_sent_${u}_total`,
      `${words} the OTLP receiver accepted, by exporter`,
    );
    this.dropped = host.telemetry.counter(
      `exporter_dropped_${u}_total`,
      `${words} never delivered, by exporter and reason: queue_full (oldest dropped), superseded (metrics: replaced by a newer collection), export_failed (given up after retries or not retryable), rejected (the receiver refused them), shutdown (left at shutdown), invalid (cannot be encoded)`,
    );
    this.requests = host.telemetry.counter(
      'otlp_requests_total',
      'OTLP export requests by signal and result: success, retry (failed, will be retried), failure (failed, given up)',
    );
    this.queueSize = host.telemetry.gauge(
      'exporter_queue_size',
      'Items waiting to be sent (spans, log records, metric points), by exporter and signal',
    );
    this.sent.add({ exporter: this.id }, 0);
    for (const reason of this.codec.reasons) this.dropped.add({ exporter: this.id, reason }, 0);
    for (const result of ['success', 'retry', 'failure'])
      this.requests.add({ exporter: this.id, signal: this.signal, result }, 0);
    this.gauge();
    this.schedule();
  }

  /** Take entries in (after stop: counted as dropped at shutdown). */
  enqueue(entries: readonly T[]): void {
    if (entries.length === 0) return;
    if (this.closing) {
      this.drop(
        'shutdown',
        entries.reduce((n, e) => n + this.codec.size(e), 0),
      );
      return;
    }
    let invalid = 0;
    let why: string | undefined;
    for (const entry of entries) {
      const problem = this.codec.problem(entry);
      if (problem) {
        invalid += this.codec.size(entry);
        why = problem;
        continue;
      }
      this.waiting += this.codec.size(entry);
      const out = this.queue.push(entry);
      if (out !== undefined)
        this.dropTaken(this.dequeued([out]), this.codec.cumulative ? 'superseded' : 'queue_full');
    }
    if (invalid > 0) {
      this.drop('invalid', invalid);
      this.logger.debug({ signal: this.signal, count: invalid, last: why }, 'dropped: cannot be encoded');
    }
    this.gauge();
    this.schedule();
  }

  /** Resolves when nothing is queued or being sent (tests). */
  async idle(): Promise<void> {
    while (this.sending || (this.queue.length > 0 && this.transport && !this.closing)) {
      if (!this.sending) this.flush();
      await this.sending;
    }
  }

  /** Send what is queued now instead of at the next flush_timeout. */
  flush(): void {
    if (!this.transport) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.sending ??= this.loop().finally(() => {
      this.sending = undefined;
      this.schedule();
    });
  }

  /**
   * Take no more; cut retry waits short; send what is queued (one attempt per request, no
   * retries) until `deadline`; count what is left as dropped (shutdown).
   */
  async stop(deadline: number): Promise<void> {
    this.closing = true;
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const settle = async (): Promise<void> => {
      while (this.sending) await this.sending;
    };
    const drained = (async () => {
      await settle();
      if (this.queue.length > 0 && this.transport) {
        this.flush();
        await settle();
      }
    })();
    if (!(await within(drained, deadline - Date.now())))
      this.logger.warn({ signal: this.signal }, 'final OTLP export did not finish in time');
    this.dropTaken(this.dequeued(this.queue.clear()), 'shutdown');
    this.gauge();
  }

  /** A full batch goes now; a partial one after flush_timeout. */
  private schedule(): void {
    if (!this.transport || this.sending || this.closing || this.queue.length === 0) return;
    if (this.queue.length >= this.maxBatch) {
      this.flush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.config.sending_queue.batch.flush_timeout);
  }

  /**
   * Full batches back to back, up to `num_consumers` requests in flight (metrics: one);
   * then one partial batch (it waited flush_timeout, or shutdown drains).
   */
  private async loop(): Promise<void> {
    const consumers = this.codec.cumulative ? 1 : this.config.sending_queue.num_consumers;
    const inFlight = new Set<Promise<void>>();
    let partialSent = false;
    for (;;) {
      const partial = this.queue.length < this.maxBatch;
      const take =
        this.queue.length > 0 && inFlight.size < consumers && !(partial && partialSent && !this.closing);
      if (!take) {
        if (inFlight.size === 0) return;
        await Promise.race(inFlight);
        continue;
      }
      const batch = this.takeBatch(this.maxBatch);
      const sent: Promise<void> = this.deliver(batch)
        .catch((err: unknown) => {
          this.logger.error({ err: messageOf(err), signal: this.signal }, 'otlp send failed unexpectedly');
        })
        .finally(() => inFlight.delete(sent));
      inFlight.add(sent);
      partialSent ||= partial;
    }
  }

  private takeBatch(n: number): readonly T[] {
    const batch = this.dequeued(this.queue.take(n));
    this.gauge();
    return batch;
  }

  /** A batch's requests in order, each retried until delivered or given up. */
  private async deliver(batch: readonly T[]): Promise<void> {
    const transport = this.transport;
    if (!transport) return;
    const retry = this.config.retry_on_failure;
    let requests = this.encode(batch);
    let i = 0;
    let startedMs = Date.now();
    let retries = 0;
    const left = (): number => requests.slice(i).reduce((n, r) => n + r.items, 0);
    while (i < requests.length) {
      const request = requests[i] as EncodedRequest;
      const result = await transport.call(this.signal, request.body);
      if (result.ok) {
        this.delivered(request, result.response);
        i++;
        retries = 0;
        startedMs = Date.now();
        continue;
      }
      const reason = describeExportError(result.error);
      const { delay, giveUp } = retryDecision(result.error, retries, startedMs, retry, this.closing);
      this.sends.failed(reason, {
        attempt: retries + 1,
        [this.codec.unit]: request.items,
        ...(giveUp ? { gave_up: giveUp } : {}),
      });
      if (giveUp) {
        this.count('failure');
        this.drop(this.closing ? 'shutdown' : 'export_failed', left());
        this.logger.debug({ retries, signal: this.signal }, `OTLP export failed (${giveUp}): ${reason}`);
        return;
      }
      this.count('retry');
      this.logger.debug(
        { err: reason, retry_in_ms: delay, attempt: retries + 1, signal: this.signal },
        'OTLP export failed; retrying',
      );
      // No connection at all (refused, black-holed, TLS): the wait ends as soon as there is one.
      const waited =
        !result.unconnected || transport.retryWait === undefined
          ? await sleep(delay, this.abort.signal)
          : await transport.retryWait(delay, this.abort.signal);
      // Cumulative data: the newest collection goes instead (its backoff continues).
      const newer = this.codec.cumulative ? this.takeBatch(1) : [];
      if (newer.length > 0) {
        this.drop('superseded', left());
        requests = this.encode(newer);
        i = 0;
      } else if (!waited) {
        this.count('failure');
        this.drop('shutdown', left());
        return;
      }
      retries++;
    }
  }

  private encode(batch: readonly T[]): readonly EncodedRequest[] {
    try {
      return this.codec.encode(batch);
    } catch (err) {
      this.dropTaken(batch, 'invalid');
      this.logger.warn({ err: messageOf(err), signal: this.signal }, 'OTLP request could not be encoded');
      return [];
    }
  }

  private delivered(request: EncodedRequest, response: Uint8Array): void {
    this.count('success');
    this.sends.succeeded();
    let rejected = { count: 0, message: undefined as string | undefined };
    try {
      rejected = this.codec.rejected(response);
    } catch (err) {
      this.logger.debug({ err: messageOf(err) }, 'cannot read the OTLP response; taking it as full success');
    }
    const count = Math.min(Math.max(0, rejected.count), request.items);
    if (count > 0) {
      this.drop('rejected', count);
      this.logger.warn(
        { signal: this.signal, count, reason: rejected.message },
        `OTLP receiver rejected ${WORDS[this.codec.unit]?.toLowerCase() ?? this.codec.unit}`,
      );
    }
    this.sent?.add({ exporter: this.id }, request.items - count);
  }

  private count(result: 'success' | 'retry' | 'failure'): void {
    this.requests?.add({ exporter: this.id, signal: this.signal, result });
  }

  /** Entries not sent (already out of the queue), counted by their items. */
  private dropTaken(entries: readonly T[], reason: DropReason): void {
    let n = 0;
    for (const e of entries) n += this.codec.size(e);
    this.drop(reason, n);
  }

  /** Entries leave the queue. */
  private dequeued(entries: readonly T[]): readonly T[] {
    for (const e of entries) this.waiting -= this.codec.size(e);
    return entries;
  }

  private drop(reason: DropReason, n: number): void {
    if (n > 0) this.dropped?.add({ exporter: this.id, reason }, n);
  }

  private gauge(): void {
    this.queueSize?.set({ exporter: this.id, signal: this.signal }, this.waiting);
  }
}
