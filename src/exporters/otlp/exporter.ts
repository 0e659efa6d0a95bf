import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Observable } from 'rxjs';
import type { Logger } from 'pino';
import { messageOf } from '../../errors.ts';
import type { Exporter, Host } from '../../pipeline/component.ts';
import type { MetricBatch } from '../../pipeline/data.ts';
import { LatestBatches } from '../../pipeline/latest.ts';
import { SEMANTIC_ATTRIBUTE_NAMES, toMetricData } from '../../pipeline/otel.ts';
import type { SelfFamily } from '../../pipeline/telemetry.ts';
import type { OtlpSendSettings } from './config.ts';
import { splitByResource } from './resources.ts';
import { describeExportError, retryDecision, sleep, within } from './retry.ts';
import { SendHealth } from './send-health.ts';
import type { AttemptResult, MetricsClient, OtlpWire } from './transport.ts';

/**
 * One collection, ready to send: one ResourceMetrics per distinct resource (the client
 * exports one ResourceMetrics per request, so a collection is one request per resource).
 */
interface Payload {
  readonly metrics: readonly ResourceMetrics[];
}

/** `service.instance.id`: one per process, the same for all its life (and all its exporters). */
export const INSTANCE_ID = randomUUID();

/**
 * exporter `otlp`: keeps the latest batch of every source and, every `interval`, pulls
 * fresh data, assembles it with the agent's own metrics and pushes it through the
 * exporter's wire (transport.ts: OTLP/gRPC, whose library has no retry, or OTLP/HTTP);
 * the retry is this class's, the same for both.
 *
 * Queue: at most one collection is being sent (with its retries) and at most one waits.
 * Data is cumulative, so the newest collection supersedes older ones: a newer collection
 * replaces the waiting one, and a retry sends the newest collection there is. Every
 * collection discarded without being delivered is counted in otlp_export_dropped_total.
 *
 * After start nothing throws: failures are counted and logged. shutdown() makes one last
 * attempt with the latest data, bounded by `timeout` as a whole, then closes the client.
 */
export class OtlpMetricsExporter implements Exporter {
  private readonly id: string;
  private readonly config: OtlpSendSettings;
  private readonly wire: OtlpWire;
  private readonly logger: Logger;
  private readonly latest: LatestBatches;
  private readonly abort = new AbortController();
  /** The agent's own attributes, under every batch's resource. */
  private readonly baseAttributes: Readonly<Record<string, string>>;
  /** Point labels that move to the resource (see resources.ts), by the name they get there. */
  private readonly resourceLabels: Readonly<Record<string, string>>;
  private host: Host | undefined;
  private client: MetricsClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private exports: SelfFamily | undefined;
  private dropped: SelfFamily | undefined;
  private duration: SelfFamily | undefined;
  /** The collection waiting to be sent. */
  private pending: Payload | undefined;
  /** The send loop, while it runs. */
  private sending: Promise<void> | undefined;
  private collecting = false;
  /** Set by shutdown: no more ticks, no more retries. */
  private closing = false;
  private stopped: Promise<void> | undefined;
  /** Failing or not, logged once then rate-limited; what /readyz shows. */
  readonly sends: SendHealth;

  constructor(id: string, config: OtlpSendSettings, wire: OtlpWire, logger: Logger) {
    this.id = id;
    this.config = config;
    this.wire = wire;
    this.logger = logger;
    this.latest = new LatestBatches(logger);
    this.sends = new SendHealth(logger, `OTLP metrics export to ${wire.endpoint}`);
    this.baseAttributes = {
      'service.name': 'ebpf-collector',
      'service.instance.id': INSTANCE_ID,
      'host.name': hostname(),
    };
    this.resourceLabels =
      config.attribute_names === 'semantic'
        ? SEMANTIC_ATTRIBUTE_NAMES
        : Object.fromEntries(Object.keys(SEMANTIC_ATTRIBUTE_NAMES).map((k) => [k, k]));
  }

  describe(): Record<string, unknown> {
    return { otlp: this.wire.endpoint };
  }

  consume(input$: Observable<MetricBatch>): void {
    this.latest.follow(input$);
  }

  forgetSource(source: string): void {
    this.latest.forget(source);
  }

  async start(host: Host): Promise<void> {
    if (this.client || this.stopped) return;
    this.host = host;
    this.exports = host.telemetry.counter(
      'otlp_exports_total',
      'OTLP export attempts by result: success, retry (failed, will be retried), failure (failed, given up)',
    );
    this.dropped = host.telemetry.counter(
      'otlp_export_dropped_total',
      'Collections never delivered: replaced by a newer one, given up after failures, or left at shutdown',
    );
    this.duration = host.telemetry.gauge(
      'collection_duration_seconds',
      'Duration of the last collection (pull, assemble, serialize), by exporter',
    );
    for (const result of ['success', 'retry', 'failure']) this.exports.add({ exporter: this.id, result }, 0);
    this.dropped.add({ exporter: this.id }, 0);

    this.client = this.wire.metrics();
    this.timer = setInterval(() => void this.tick(), this.config.interval);
    this.logger.info(
      { endpoint: this.wire.endpoint, interval_ms: this.config.interval },
      `exporting metrics over ${this.wire.protocol}`,
    );
  }

  shutdown(): Promise<void> {
    this.stopped ??= this.stop();
    return this.stopped;
  }

  /**
   * Collect now and send (used by the timer; tests call it to avoid waiting). Resolves when
   * this collection has been handed to the queue, not when it is delivered.
   */
  async tick(): Promise<void> {
    const host = this.host;
    if (!host || this.closing || this.collecting) return;
    this.collecting = true;
    try {
      const t0 = performance.now();
      await this.pull(host);
      if (this.closing) return;
      const payload = this.collect();
      // Sent with the next collection: this one is already made.
      this.duration?.set({ exporter: this.id }, (performance.now() - t0) / 1000);
      if (payload) this.enqueue(payload);
    } catch (err) {
      // Nothing here should throw; if it does, the agent keeps running.
      this.logger.error({ err: messageOf(err) }, 'otlp collection failed');
    } finally {
      this.collecting = false;
    }
  }

  /** Resolves when nothing is waiting or being sent (tests). */
  async idle(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private async stop(): Promise<void> {
    this.latest.stop();
    const client = this.client;
    if (!client) return;
    const deadline = Date.now() + this.config.timeout;
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.abort.abort(); // ends a retry wait at once; no more retries
    // Final attempt with the latest data. No pull: pipelines stop upstream-first, so the
    // receivers have already emitted their last batches.
    const payload = this.collect();
    if (payload) this.enqueue(payload);
    if (!(await within(this.idle(), deadline - Date.now()))) {
      this.logger.warn({ timeout_ms: this.config.timeout }, 'final OTLP export did not finish in time');
      if (this.pending) {
        this.pending = undefined;
        this.drop();
      }
    }
    // The client's shutdown waits for an export still in flight (at most its deadline);
    // do not wait past ours — it closes the channel on its own once that settles.
    const closed = client.shutdown().catch((err: unknown) => {
      this.logger.debug({ err: messageOf(err) }, 'closing the OTLP client failed');
    });
    await within(closed, Math.max(0, deadline - Date.now()));
  }

  private async pull(host: Host): Promise<void> {
    const pulled = (async () => host.pull())(); // a synchronous throw becomes a rejection
    const logged = pulled.catch((err: unknown) => {
      this.logger.warn({ err: messageOf(err) }, 'pull failed; sending the last data read');
    });
    if (!(await within(logged, this.config.timeout)))
      this.logger.warn({ timeout_ms: this.config.timeout }, 'pull timed out; sending the last data read');
  }

  private collect(): Payload | undefined {
    const now = Date.now();
    const groups = this.latest.groups(this.host?.telemetry);
    if (groups.length === 0) return undefined;
    return {
      metrics: groups.flatMap((g) =>
        splitByResource(g.families, this.resourceLabels).map((part): ResourceMetrics => ({
          // The pod's attributes over the batch's: they are the more specific.
          resource: this.resourceOf({ ...g.resource, ...part.attributes }),
          scopeMetrics: [
            {
              scope: { name: 'ebpf-collector' },
              metrics: toMetricData(part.families, now, { histograms: this.config.histograms }),
            },
          ],
        })),
      ),
    };
  }

  /**
   * A batch's resource attributes over the agent's own: the batch's win (a `resource`
   * processor may set `service.name` or `host.name`), except `service.instance.id`, which
   * stays this process's — it keeps the cumulative streams of two agents apart, and a
   * value written in shared config would be the same on every node.
   */
  private resourceOf(attributes: Readonly<Record<string, string>> | undefined): Resource {
    return resourceFromAttributes({
      ...this.baseAttributes,
      ...attributes,
      'service.instance.id': INSTANCE_ID,
    });
  }

  private enqueue(payload: Payload): void {
    if (this.pending) this.drop(); // replaced by newer cumulative data
    this.pending = payload;
    this.sending ??= this.sendLoop().finally(() => {
      this.sending = undefined;
    });
  }

  private async sendLoop(): Promise<void> {
    for (let payload = this.take(); payload; payload = this.take()) {
      try {
        await this.deliver(payload);
      } catch (err) {
        this.logger.error({ err: messageOf(err) }, 'otlp send failed unexpectedly');
      }
    }
  }

  private take(): Payload | undefined {
    const p = this.pending;
    this.pending = undefined;
    return p;
  }

  /** Send one collection, retrying while the failure is retryable (with the newest data). */
  private async deliver(first: Payload): Promise<void> {
    const retry = this.config.retry_on_failure;
    const startedMs = Date.now();
    let payload = first;
    for (let retries = 0; ; retries++) {
      const result = await this.attempt(payload);
      if (result.ok) {
        this.count('success');
        this.sends.succeeded();
        return;
      }
      const reason = describeExportError(result.error);
      const { delay, giveUp } = retryDecision(result.error, retries, startedMs, retry, this.closing);
      this.sends.failed(reason, { attempt: retries + 1, ...(giveUp ? { gave_up: giveUp } : {}) });
      if (giveUp) {
        this.count('failure');
        this.drop();
        this.logger.debug({ retries, reason }, `OTLP export failed (${giveUp}): ${reason}`);
        return;
      }
      this.count('retry');
      this.logger.debug(
        { err: reason, retry_in_ms: delay, attempt: retries + 1 },
        'OTLP export failed; retrying',
      );
      if (!(await sleep(delay, this.abort.signal))) {
        // Shutdown: its final attempt sends the latest data, which supersedes this.
        this.drop();
        return;
      }
      const newer = this.take();
      if (newer) {
        this.drop();
        payload = newer;
      }
    }
  }

  /**
   * One attempt: every resource of the collection, one request each, in order. The first
   * failure ends the attempt and is its result; a retry sends the whole (newest) collection
   * again, which is harmless because the data is cumulative.
   */
  private async attempt(payload: Payload): Promise<AttemptResult> {
    for (const metrics of payload.metrics) {
      const result = await this.attemptOne(metrics);
      if (!result.ok) return result;
    }
    return { ok: true };
  }

  private attemptOne(metrics: ResourceMetrics): Promise<AttemptResult> {
    const client = this.client;
    if (!client) return Promise.resolve({ ok: false, error: new Error('exporter not started') });
    return client.export(metrics);
  }

  private count(result: 'success' | 'retry' | 'failure'): void {
    this.exports?.add({ exporter: this.id, result });
  }

  private drop(): void {
    this.dropped?.add({ exporter: this.id });
  }
}
