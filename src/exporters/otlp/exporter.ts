import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
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
import { within } from './retry.ts';
import { OtlpSender, type SendCodec } from './sender.ts';
import type { SendHealth } from './send-health.ts';
import type { OtlpWire } from './transport.ts';

/**
 * One collection, ready to send: one ResourceMetrics per distinct resource, sent as one
 * request each (the serializer takes one ResourceMetrics per request), and its data points.
 */
interface Collection {
  readonly metrics: readonly ResourceMetrics[];
  readonly points: number;
}

function pointsOf(rm: ResourceMetrics): number {
  let n = 0;
  for (const sm of rm.scopeMetrics) for (const m of sm.metrics) n += m.dataPoints.length;
  return n;
}

/** Collections for the sender: cumulative (the newest supersedes), counted in data points. */
const metricsCodec: SendCodec<Collection> = {
  signal: 'metrics',
  unit: 'metric_points',
  cumulative: true,
  reasons: ['superseded', 'export_failed', 'rejected', 'shutdown', 'invalid'],
  size: (c) => c.points,
  problem: () => undefined,
  encode: (batch) =>
    batch.flatMap((c) =>
      c.metrics.map((rm) => {
        const body = ProtobufMetricsSerializer.serializeRequest(rm);
        if (!body) throw new Error('the metrics could not be serialized');
        return { body, items: pointsOf(rm) };
      }),
    ),
  rejected(response) {
    const p = ProtobufMetricsSerializer.deserializeResponse(response).partialSuccess;
    return { count: Number(p?.rejectedDataPoints ?? 0), message: p?.errorMessage || undefined };
  },
};

/** `service.instance.id`: one per process, the same for all its life (and all its exporters). */
export const INSTANCE_ID = randomUUID();

/**
 * exporter `otlp`: keeps the latest batch of every source and, every `interval`, pulls
 * fresh data, assembles it with the agent's own metrics and hands the collection to the
 * metrics sender (sender.ts: the queue, retry and accounting every signal shares, over the
 * exporter's wire — OTLP/gRPC or OTLP/HTTP).
 *
 * Data is cumulative, so the newest collection supersedes older ones: at most one waits,
 * a newer one replaces it, and a retry sends the newest there is. Every data point is
 * counted once, sent or dropped by reason (exporter_sent_metric_points_total,
 * exporter_dropped_metric_points_total{reason}).
 *
 * After start nothing throws: failures are counted and logged. shutdown() makes one last
 * attempt with the latest data, bounded by `timeout` as a whole, then releases the wire.
 */
export class OtlpMetricsExporter implements Exporter {
  private readonly id: string;
  private readonly config: OtlpSendSettings;
  private readonly wire: OtlpWire;
  private readonly logger: Logger;
  private readonly latest: LatestBatches;
  private readonly sender: OtlpSender<Collection>;
  /** The agent's own attributes, under every batch's resource. */
  private readonly baseAttributes: Readonly<Record<string, string>>;
  /** Point labels that move to the resource (see resources.ts), by the name they get there. */
  private readonly resourceLabels: Readonly<Record<string, string>>;
  private host: Host | undefined;
  private started = false;
  private timer: NodeJS.Timeout | undefined;
  private duration: SelfFamily | undefined;
  private collecting = false;
  /** Set by shutdown: no more ticks. */
  private closing = false;
  private stopped: Promise<void> | undefined;
  /** Data points in every collection made (tests: = sent + dropped). */
  produced = 0;

  constructor(id: string, config: OtlpSendSettings, wire: OtlpWire, logger: Logger) {
    this.id = id;
    this.config = config;
    this.wire = wire;
    this.logger = logger;
    this.latest = new LatestBatches(logger);
    this.sender = new OtlpSender(id, metricsCodec, config, logger, wire.endpoint);
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

  /** Failing or not, logged once then rate-limited; what /readyz shows. */
  get sends(): SendHealth {
    return this.sender.sends;
  }

  consume(input$: Observable<MetricBatch>): void {
    this.latest.follow(input$);
  }

  forgetSource(source: string): void {
    this.latest.forget(source);
  }

  async start(host: Host): Promise<void> {
    if (this.started || this.stopped) return;
    const transport = this.wire.open('metrics'); // throws (a config error) when it cannot be
    this.started = true;
    this.host = host;
    this.duration = host.telemetry.gauge(
      'collection_duration_seconds',
      'Duration of the last collection (pull, assemble, serialize), by exporter',
    );
    this.sender.start(host, transport);
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
      const collection = this.collect();
      // Sent with the next collection: this one is already made.
      this.duration?.set({ exporter: this.id }, (performance.now() - t0) / 1000);
      if (collection) this.sender.enqueue([collection]);
    } catch (err) {
      // Nothing here should throw; if it does, the agent keeps running.
      this.logger.error({ err: messageOf(err) }, 'otlp collection failed');
    } finally {
      this.collecting = false;
    }
  }

  /** Resolves when nothing is waiting or being sent (tests). */
  idle(): Promise<void> {
    return this.sender.idle();
  }

  private async stop(): Promise<void> {
    this.latest.stop();
    if (!this.started) return;
    const deadline = Date.now() + this.config.timeout;
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    // Final attempt with the latest data (it supersedes what waits or is being retried).
    // No pull: pipelines stop upstream-first, so the receivers have already emitted their
    // last batches.
    const collection = this.collect();
    if (collection) this.sender.enqueue([collection]);
    await this.sender.stop(deadline);
    this.wire.release();
  }

  private async pull(host: Host): Promise<void> {
    const pulled = (async () => host.pull())(); // a synchronous throw becomes a rejection
    const logged = pulled.catch((err: unknown) => {
      this.logger.warn({ err: messageOf(err) }, 'pull failed; sending the last data read');
    });
    if (!(await within(logged, this.config.timeout)))
      this.logger.warn({ timeout_ms: this.config.timeout }, 'pull timed out; sending the last data read');
  }

  private collect(): Collection | undefined {
    const now = Date.now();
    const groups = this.latest.groups(this.host?.telemetry);
    if (groups.length === 0) return undefined;
    const metrics = groups.flatMap((g) =>
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
    );
    const points = metrics.reduce((n, rm) => n + pointsOf(rm), 0);
    this.produced += points;
    return { metrics, points };
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
}
