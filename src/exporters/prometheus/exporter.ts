import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider, type MetricProducer, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { emptyResource } from '@opentelemetry/resources';
import type { Observable } from 'rxjs';
import type { Logger } from 'pino';
import { messageOf } from '../../errors.ts';
import type { Exporter, Host } from '../../pipeline/component.ts';
import type { MetricBatch } from '../../pipeline/data.ts';
import { LatestBatches } from '../../pipeline/latest.ts';
import { toMetricData } from '../../pipeline/otel.ts';
import type { PrometheusExporterConfig } from './config.ts';
import { MetricsServer } from './server.ts';

/**
 * exporter `prometheus`: keeps the latest batch of every source, and on each
 * scrape pulls fresh data, assembles it and serializes it through
 * @opentelemetry/exporter-prometheus fed by a MetricProducer. Concurrent
 * scrapes share one collection.
 */
export class PrometheusMetricsExporter implements Exporter {
  private readonly config: PrometheusExporterConfig;
  private readonly logger: Logger;
  private readonly latest: LatestBatches;
  private host: Host | undefined;
  private provider: MeterProvider | undefined;
  private reader: PrometheusExporter | undefined;
  private readonly serializer: PrometheusSerializer;
  private server: MetricsServer | undefined;
  private inflight: Promise<string> | undefined;

  constructor(config: PrometheusExporterConfig, logger: Logger) {
    this.config = config;
    this.logger = logger;
    this.latest = new LatestBatches(logger);
    this.serializer = new PrometheusSerializer(config.namespace, false, undefined, true, true);
  }

  /** Where the server listens once started (the real port when 0 was asked). */
  get address(): { host: string; port: number } | undefined {
    return this.server?.address;
  }

  describe(): Record<string, unknown> {
    const a = this.server?.address;
    if (!a) return {};
    const host = a.host.includes(':') ? `[${a.host}]` : a.host;
    return { metrics: `http://${host}:${a.port}${this.config.metrics_path}` };
  }

  consume(input$: Observable<MetricBatch>): void {
    this.latest.follow(input$);
  }

  async start(host: Host): Promise<void> {
    this.host = host;
    const producer: MetricProducer = {
      collect: async () => ({ resourceMetrics: this.resourceMetrics(), errors: [] }),
    };
    this.reader = new PrometheusExporter({
      preventServerStart: true,
      prefix: this.config.namespace,
      withoutTargetInfo: true,
      withoutScopeInfo: true,
      metricProducers: [producer],
    });
    this.provider = new MeterProvider({ resource: emptyResource(), readers: [this.reader] });
    this.server = new MetricsServer({
      host: this.config.endpoint.host,
      port: this.config.endpoint.port,
      metricsPath: this.config.metrics_path,
      maxRequests: this.config.max_requests,
      scrape: () => this.scrape(),
      ready: () => host.ready(),
      logger: this.logger,
    });
    await this.server.listen();
    const a = this.server.address;
    this.logger.info({ endpoint: `${a.host}:${a.port}`, path: this.config.metrics_path }, 'serving metrics');
  }

  async shutdown(): Promise<void> {
    this.latest.stop();
    await this.server?.close();
    this.server = undefined;
    await this.provider?.shutdown().catch(() => undefined);
    this.provider = undefined;
  }

  /** One exposition text; scrapes that arrive while one is being made share it. */
  scrape(): Promise<string> {
    this.inflight ??= this.collectText().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async collectText(): Promise<string> {
    if (!this.host || !this.reader) throw new Error('exporter not started');
    await this.host.pull();
    const { resourceMetrics, errors } = await this.reader.collect();
    if (errors.length > 0) throw new Error(`collection failed: ${errors.map(messageOf).join('; ')}`);
    return this.serializer.serialize(resourceMetrics);
  }

  private resourceMetrics(): ResourceMetrics {
    const now = Date.now();
    const families = this.latest.families(this.host?.telemetry);
    return {
      resource: emptyResource(),
      scopeMetrics: [{ scope: { name: 'ebpf-collector' }, metrics: toMetricData(families, now) }],
    };
  }
}
