import { map, type Observable, type Subscription } from 'rxjs';
import type { Logger } from 'pino';
import { messageOf } from '../../errors.ts';
import type { Host } from '../../pipeline/component.ts';
import type { LogBatch, LogRecordData, SpanBatch, SpanRecord } from '../../pipeline/data.ts';
import type { OtlpSendSettings } from './config.ts';
import { OtlpSender, type SendCodec } from './sender.ts';
import type { OtlpTransport, OtlpWire } from './transport.ts';
import { logCodec, Resources, spanCodec, type Queued } from './codec.ts';

export { hrTime, logCodec, spanCodec, spanProblem, type EventSignal } from './codec.ts';

/**
 * Spans and log records over OTLP. Unlike metrics (cumulative: the newest collection
 * supersedes the others), every span and log record is sent once: the signal's sender
 * (sender.ts) keeps a bounded queue of records, sends them in batches of at most
 * `sending_queue.batch.max_size`, a partial batch after `flush_timeout`, retries, and
 * counts every record sent or dropped:
 *
 *   exporter_sent_spans_total{exporter}, exporter_dropped_spans_total{exporter, reason}
 *   exporter_sent_log_records_total{exporter}, exporter_dropped_log_records_total{exporter, reason}
 *
 * with reason queue_full | export_failed | rejected | shutdown | invalid.
 */

/** One record signal: its input streams and its sender. */
export class EventSender<R> {
  private readonly resources = new Resources();
  private readonly subscriptions: Subscription[] = [];
  private readonly logger: Logger;
  readonly sender: OtlpSender<Queued<R>>;

  constructor(
    id: string,
    codec: SendCodec<Queued<R>>,
    config: OtlpSendSettings,
    logger: Logger,
    endpoint: string,
  ) {
    this.logger = logger;
    this.sender = new OtlpSender(id, codec, config, logger, endpoint);
  }

  get signal(): 'traces' | 'logs' {
    return this.sender.signal as 'traces' | 'logs';
  }

  get sends(): OtlpSender<Queued<R>>['sends'] {
    return this.sender.sends;
  }

  follow(
    input$: Observable<{
      readonly records: readonly R[];
      readonly resource?: Readonly<Record<string, string>> | undefined;
    }>,
  ): void {
    this.subscriptions.push(
      input$.subscribe({
        next: (batch) => {
          const resource = this.resources.of(batch.resource);
          this.sender.enqueue(batch.records.map((record) => ({ record, resource })));
        },
        error: (err: unknown) =>
          this.logger.error({ err: messageOf(err), signal: this.signal }, 'input stream failed'),
      }),
    );
  }

  /** Resolves when nothing is queued or being sent (tests). */
  idle(): Promise<void> {
    return this.sender.idle();
  }

  /** Stop taking records, send what is queued until `deadline`, count what is left. */
  async stop(deadline: number): Promise<void> {
    for (const s of this.subscriptions.splice(0)) s.unsubscribe();
    await this.sender.stop(deadline);
  }
}

/** The exporter's traces and logs halves; the channel opens at start when either is used. */
export class OtlpEvents {
  private readonly id: string;
  private readonly config: OtlpSendSettings;
  private readonly wire: OtlpWire;
  private readonly logger: Logger;
  private opened = 0;
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
    if (!this.used || this.opened > 0) return;
    const senders = [this.traces?.sender, this.logs?.sender].filter((s) => s !== undefined);
    // Both signals are checked before either starts: a missing URL fails start as a whole.
    const transports: OtlpTransport[] = [];
    try {
      for (const s of senders) transports.push(this.wire.open(s.signal));
    } catch (err) {
      for (const _ of transports) this.wire.release();
      throw err;
    }
    this.opened = transports.length;
    senders.forEach((s, i) => s.start(host, transports[i] as OtlpTransport));
    const signals = senders.map((s) => s.signal);
    this.logger.info(
      { signals, endpoint: this.wire.endpoint, queue_size: this.config.sending_queue.queue_size },
      `exporting over ${this.wire.protocol}`,
    );
  }

  async shutdown(): Promise<void> {
    const deadline = Date.now() + this.config.timeout;
    await Promise.all([this.traces?.stop(deadline), this.logs?.stop(deadline)]);
    for (; this.opened > 0; this.opened--) this.wire.release();
  }
}
