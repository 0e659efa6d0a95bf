import { map, type Observable, type Subscription } from 'rxjs';
import type { Logger } from 'pino';
import { messageOf } from '../../errors.ts';
import type { Host } from '../../pipeline/component.ts';
import type { LogBatch, LogRecordData, SpanBatch, SpanRecord } from '../../pipeline/data.ts';
import type { SelfFamily } from '../../pipeline/telemetry.ts';
import type { OtlpSendSettings } from './config.ts';
import { describeExportError, retryDecision, sleep, within } from './retry.ts';
import { SendHealth } from './send-health.ts';
import type { EventTransport, OtlpWire } from './transport.ts';
import { logCodec, Resources, spanCodec, type Codec, type EventSignal, type Queued } from './codec.ts';

export { hrTime, logCodec, spanCodec, spanProblem, type EventSignal } from './codec.ts';

/**
 * Spans and log records over OTLP. Unlike metrics (cumulative: the newest collection
 * supersedes the others), every span and log record is sent once: each signal has a
 * bounded queue of records, sent in batches of at most `sending_queue.batch.max_size`,
 * a partial batch after `flush_timeout`. One request is in flight per signal, retried
 * like metrics; records keep arriving into the queue meanwhile, and when it is full the
 * oldest are dropped. Every record that is not delivered is counted, by reason:
 *
 *   exporter_dropped_spans_total{exporter, reason}        queue_full | export_failed | rejected | shutdown | invalid
 *   exporter_dropped_log_records_total{exporter, reason}
 *
 * Requests are built with @opentelemetry/otlp-transformer's protobuf serializers (ids as
 * bytes, times as fixed64 nanoseconds, typed attributes) and sent by the exporter's wire
 * (OTLP/gRPC or OTLP/HTTP, transport.ts).
 */

/** A FIFO that holds at most `capacity` items; pushing into a full one drops the oldest. */
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

  /** Returns how many of the oldest items were dropped to make room. */
  push(item: T): number {
    this.items.push(item);
    if (this.length <= this.capacity) return 0;
    this.head++;
    this.compact();
    return 1;
  }

  take(n: number): T[] {
    const out = this.items.slice(this.head, this.head + n);
    this.head += out.length;
    this.compact();
    return out;
  }

  clear(): number {
    const n = this.length;
    this.items = [];
    this.head = 0;
    return n;
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

const DROP_REASONS = ['queue_full', 'export_failed', 'rejected', 'shutdown', 'invalid'] as const;
type DropReason = (typeof DROP_REASONS)[number];

/** The queue, batching and sending of one signal. */
export class EventSender<R> {
  private readonly id: string;
  private readonly codec: Codec<R>;
  private readonly config: OtlpSendSettings;
  private readonly logger: Logger;
  private readonly queue: BoundedQueue<Queued<R>>;
  private readonly resources = new Resources();
  private readonly subscriptions: Subscription[] = [];
  private readonly abort = new AbortController();
  private channel: EventTransport | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private closing = false;
  /** Failing or not, logged once then rate-limited; what /readyz shows. */
  readonly sends: SendHealth;
  private sent: SelfFamily | undefined;
  private dropped: SelfFamily | undefined;
  private requests: SelfFamily | undefined;
  private queueSize: SelfFamily | undefined;

  constructor(id: string, codec: Codec<R>, config: OtlpSendSettings, logger: Logger, endpoint = '') {
    this.id = id;
    this.codec = codec;
    this.config = config;
    this.logger = logger;
    this.queue = new BoundedQueue(config.sending_queue.queue_size);
    this.sends = new SendHealth(logger, `OTLP ${codec.signal} export${endpoint ? ` to ${endpoint}` : ''}`);
  }

  get signal(): EventSignal {
    return this.codec.signal;
  }

  follow(
    input$: Observable<{
      readonly records: readonly R[];
      readonly resource?: Readonly<Record<string, string>> | undefined;
    }>,
  ): void {
    this.subscriptions.push(
      input$.subscribe({
        next: (batch) => this.enqueue(batch.records, batch.resource),
        error: (err: unknown) =>
          this.logger.error({ err: messageOf(err), signal: this.signal }, 'input stream failed'),
      }),
    );
  }

  start(host: Host, channel: EventTransport): void {
    this.channel = channel;
    const u = this.codec.unit;
    const words = u === 'spans' ? 'Spans' : 'Log records';
    this.sent = host.telemetry.counter(
      `exporter_sent_${u}_total`,
      `${words} the OTLP receiver accepted, by exporter`,
    );
    this.dropped = host.telemetry.counter(
      `exporter_dropped_${u}_total`,
      `${words} never delivered, by exporter and reason: queue_full (oldest dropped), export_failed (given up after retries or not retryable), rejected (the receiver refused them), shutdown (left at shutdown), invalid (cannot be encoded)`,
    );
    this.requests = host.telemetry.counter(
      'otlp_requests_total',
      'OTLP span and log export requests by signal and result: success, retry (failed, will be retried), failure (failed, given up)',
    );
    this.queueSize = host.telemetry.gauge(
      'exporter_queue_size',
      'Spans or log records waiting to be sent, by exporter and signal',
    );
    this.sent.add({ exporter: this.id }, 0);
    for (const reason of DROP_REASONS) this.dropped.add({ exporter: this.id, reason }, 0);
    for (const result of ['success', 'retry', 'failure'])
      this.requests.add({ exporter: this.id, signal: this.signal, result }, 0);
    this.gauge();
    this.schedule();
  }

  /** Resolves when nothing is queued or being sent (tests). */
  async idle(): Promise<void> {
    while (this.sending || (this.queue.length > 0 && this.channel && !this.closing)) {
      if (!this.sending) this.flush();
      await this.sending;
    }
  }

  /** Send what is queued now instead of at the next flush_timeout. */
  flush(): void {
    if (!this.channel) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.sending ??= this.loop().finally(() => {
      this.sending = undefined;
      this.schedule();
    });
  }

  /**
   * Stop taking records; send what is queued (one attempt per batch, no retries) until
   * `deadline`; count what is left as dropped (shutdown).
   */
  async stop(deadline: number): Promise<void> {
    for (const s of this.subscriptions.splice(0)) s.unsubscribe();
    this.closing = true;
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const settle = async (): Promise<void> => {
      while (this.sending) await this.sending;
    };
    const drained = (async () => {
      await settle();
      if (this.queue.length > 0 && this.channel) {
        this.flush();
        await settle();
      }
    })();
    if (!(await within(drained, deadline - Date.now())))
      this.logger.warn({ signal: this.signal }, 'final OTLP export did not finish in time');
    const left = this.queue.clear();
    if (left > 0) this.drop('shutdown', left);
    this.gauge();
  }

  private enqueue(records: readonly R[], attributes: Readonly<Record<string, string>> | undefined): void {
    if (this.closing || records.length === 0) return;
    const resource = this.resources.of(attributes);
    let full = 0;
    let invalid = 0;
    let why: string | undefined;
    for (const record of records) {
      const problem = this.codec.problem(record);
      if (problem) {
        invalid++;
        why = problem;
        continue;
      }
      full += this.queue.push({ record, resource });
    }
    if (invalid > 0) {
      this.drop('invalid', invalid);
      this.logger.debug(
        { signal: this.signal, count: invalid, last: why },
        'records dropped: cannot be encoded',
      );
    }
    if (full > 0) this.drop('queue_full', full);
    this.gauge();
    this.schedule();
  }

  /** A full batch goes now; a partial one after flush_timeout. */
  private schedule(): void {
    if (!this.channel || this.sending || this.closing || this.queue.length === 0) return;
    if (this.queue.length >= this.config.sending_queue.batch.max_size) {
      this.flush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.config.sending_queue.batch.flush_timeout);
  }

  /**
   * Full batches back to back, up to `num_consumers` requests in flight; then one partial
   * batch (it waited flush_timeout, or shutdown drains).
   */
  private async loop(): Promise<void> {
    const max = this.config.sending_queue.batch.max_size;
    const consumers = this.config.sending_queue.num_consumers;
    const inFlight = new Set<Promise<void>>();
    let partialSent = false;
    for (;;) {
      const partial = this.queue.length < max;
      const take =
        this.queue.length > 0 && inFlight.size < consumers && !(partial && partialSent && !this.closing);
      if (!take) {
        if (inFlight.size === 0) return;
        await Promise.race(inFlight);
        continue;
      }
      const batch = this.queue.take(max);
      this.gauge();
      const sent: Promise<void> = this.deliver(batch)
        .catch((err: unknown) => {
          this.drop('export_failed', batch.length);
          this.logger.error({ err: messageOf(err) }, 'otlp send failed unexpectedly');
        })
        .finally(() => inFlight.delete(sent));
      inFlight.add(sent);
      partialSent ||= partial;
    }
  }

  private async deliver(batch: readonly Queued<R>[]): Promise<void> {
    const channel = this.channel;
    if (!channel) return;
    const retry = this.config.retry_on_failure;
    const body = this.codec.encode(batch);
    const startedMs = Date.now();
    for (let retries = 0; ; retries++) {
      const result = await channel.call(this.signal, body);
      if (result.ok) {
        this.count('success');
        let rejected = { count: 0, message: undefined as string | undefined };
        try {
          rejected = this.codec.rejected(result.response);
        } catch (err) {
          this.logger.debug(
            { err: messageOf(err) },
            'cannot read the OTLP response; taking it as full success',
          );
        }
        const count = Math.min(Math.max(0, rejected.count), batch.length);
        if (count > 0) {
          this.drop('rejected', count);
          this.logger.warn(
            { signal: this.signal, count, reason: rejected.message },
            'OTLP receiver rejected records',
          );
        }
        this.sent?.add({ exporter: this.id }, batch.length - count);
        this.sends.succeeded();
        return;
      }
      const reason = describeExportError(result.error);
      const { delay, giveUp } = retryDecision(result.error, retries, startedMs, retry, this.closing);
      this.sends.failed(reason, {
        attempt: retries + 1,
        records: batch.length,
        ...(giveUp ? { gave_up: giveUp } : {}),
      });
      if (giveUp || !(await this.wait(delay, retries, reason))) {
        this.count('failure');
        this.drop(this.closing ? 'shutdown' : 'export_failed', batch.length);
        const message = `OTLP ${this.signal} export failed (${giveUp ?? 'shutting down'}): ${reason}`;
        this.logger.debug({ retries, records: batch.length }, message);
        return;
      }
    }
  }

  /** Count a retry and wait; false when shutdown cut the wait short. */
  private async wait(delay: number, retries: number, reason: string): Promise<boolean> {
    this.count('retry');
    this.logger.debug(
      { err: reason, retry_in_ms: delay, attempt: retries + 1, signal: this.signal },
      'OTLP export failed; retrying',
    );
    return sleep(delay, this.abort.signal);
  }

  private count(result: 'success' | 'retry' | 'failure'): void {
    this.requests?.add({ exporter: this.id, signal: this.signal, result });
  }

  private drop(reason: DropReason, n: number): void {
    this.dropped?.add({ exporter: this.id, reason }, n);
  }

  private gauge(): void {
    this.queueSize?.set({ exporter: this.id, signal: this.signal }, this.queue.length);
  }
}

/** The exporter's traces and logs halves; the channel opens at start when either is used. */
export class OtlpEvents {
  private readonly id: string;
  private readonly config: OtlpSendSettings;
  private readonly wire: OtlpWire;
  private readonly logger: Logger;
  private channel: EventTransport | undefined;
  traces: EventSender<SpanRecord> | undefined;
  logs: EventSender<LogRecordData> | undefined;

  constructor(id: string, config: OtlpSendSettings, wire: OtlpWire, logger: Logger) {
    this.id = id;
    this.config = config;
    this.wire = wire;
    this.logger = logger;
  }

  consumeSpans(input$: Observable<SpanBatch>): void {
    this.traces ??= new EventSender(this.id, spanCodec, this.config, this.logger, this.wire.endpoint);
    this.traces.follow(input$.pipe(map((b) => ({ records: b.spans, resource: b.resource }))));
  }

  consumeLogs(input$: Observable<LogBatch>): void {
    this.logs ??= new EventSender(this.id, logCodec, this.config, this.logger, this.wire.endpoint);
    this.logs.follow(input$.pipe(map((b) => ({ records: b.records, resource: b.resource }))));
  }

  get used(): boolean {
    return this.traces !== undefined || this.logs !== undefined;
  }

  start(host: Host): void {
    if (!this.used || this.channel) return;
    const signals = [this.traces?.signal, this.logs?.signal].filter((s) => s !== undefined);
    this.channel = this.wire.events(signals);
    this.traces?.start(host, this.channel);
    this.logs?.start(host, this.channel);
    this.logger.info(
      { signals, endpoint: this.wire.endpoint, queue_size: this.config.sending_queue.queue_size },
      `exporting over ${this.wire.protocol}`,
    );
  }

  async shutdown(): Promise<void> {
    const deadline = Date.now() + this.config.timeout;
    await Promise.all([this.traces?.stop(deadline), this.logs?.stop(deadline)]);
    this.channel?.close();
    this.channel = undefined;
  }
}
