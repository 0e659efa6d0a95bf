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
import type { SelfFamily } from '../../pipeline/telemetry.ts';
import type { PrometheusExporterConfig } from './config.ts';
import { prometheusFamilies, type Problem } from './names.ts';
import { withResourceLabels } from './resource.ts';
import { MetricsServer } from './server.ts';

/** Problems logged so far (each once); bounded so that changing names cannot grow it forever. */
const MAX_LOGGED_PROBLEMS = 1000;

/**
 * exporter `prometheus`: keeps the latest batch of every source, and on each
 * scrape pulls fresh data, assembles it, gives it Prometheus names (names.ts:
 * collisions are dropped, counted and logged once) and serializes it through
 * @opentelemetry/exporter-prometheus fed by a MetricProducer. Concurrent
 * scrapes share one collection.
 */
export class PrometheusMetricsExporter implements Exporter {
  private readonly id: string;
  private readonly config: PrometheusExporterConfig;
  private readonly logger: Logger;
  private readonly latest: LatestBatches;
  private host: Host | undefined;
  private provider: MeterProvider | undefined;
  private reader: PrometheusExporter | undefined;
  private readonly serializer: PrometheusSerializer;
  private server: MetricsServer | undefined;
  private inflight: Promise<string> | undefined;
  private scrapes: SelfFamily | undefined;
  private duration: SelfFamily | undefined;
  private droppedSeries: SelfFamily | undefined;
  private readonly logged = new Set<string>();

  constructor(config: PrometheusExporterConfig, logger: Logger, id = 'prometheus') {
    this.id = id;
    this.config = config;
    this.logger = logger;
    // Prometheus has no start times: it takes a decrease as a reset by itself.
    this.latest = new LatestBatches(logger, { trackResets: false });
    // Names are final before serialization (names.ts): no prefix here.
    this.serializer = new PrometheusSerializer(undefined, false, undefined, true, true);
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
    const t = host.telemetry;
    this.scrapes = t.counter('prometheus_scrapes_total', 'Scrapes of the metrics path, by HTTP status code');
    this.duration = t.gauge(
      'collection_duration_seconds',
      'Duration of the last collection (pull, assemble, serialize), by exporter',
    );
    this.droppedSeries = t.counter(
      'prometheus_dropped_series_total',
      'Series left out of a scrape because their names collide or cannot be exposed, by reason',
    );
    const producer: MetricProducer = {
      collect: async () => ({ resourceMetrics: this.resourceMetrics(), errors: [] }),
    };
    this.reader = new PrometheusExporter({
      preventServerStart: true,
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
      onScrape: (code) => this.scrapes?.add({ exporter: this.id, code: String(code) }),
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
    const t0 = performance.now();
    await this.host.pull();
    const { resourceMetrics, errors } = await this.reader.collect();
    if (errors.length > 0) throw new Error(`collection failed: ${errors.map(messageOf).join('; ')}`);
    const text = this.serializer.serialize(resourceMetrics);
    // Shown by the next scrape: this one's text is already made.
    this.duration?.set({ exporter: this.id }, (performance.now() - t0) / 1000);
    return text;
  }

  private resourceMetrics(): ResourceMetrics {
    const now = Date.now();
    const telemetry = this.host?.telemetry;
    const assembled = this.config.resource_to_telemetry_conversion
      ? this.latest.groups(telemetry).flatMap((g) => withResourceLabels(g.families, g.resource))
      : this.latest.families(telemetry);
    const families = prometheusFamilies(assembled, this.config.namespace, (p) => this.problem(p));
    return {
      resource: emptyResource(),
      scopeMetrics: [{ scope: { name: 'ebpf-collector' }, metrics: toMetricData(families, now) }],
    };
  }

  /** Count every time; log each distinct problem once (it recurs on every scrape). */
  private problem(p: Problem): void {
    this.droppedSeries?.add({ exporter: this.id, reason: p.reason }, p.series);
    if (this.logged.has(p.message) || this.logged.size >= MAX_LOGGED_PROBLEMS) return;
    this.logged.add(p.message);
    this.logger.error(
      { code: 'ERR_PROMETHEUS_NAME', reason: p.reason },
      `${p.message} [ERR_PROMETHEUS_NAME]`,
    );
  }
}
