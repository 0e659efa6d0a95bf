import { performance } from 'node:perf_hooks';
import type { Observable } from 'rxjs';
import type { Logger } from 'pino';
import type { ComponentHealth, Exporter, Host } from '../../pipeline/component.ts';
import type { MetricBatch, MetricFamily } from '../../pipeline/data.ts';
import { LatestBatches } from '../../pipeline/latest.ts';
import { pointCount, withFields } from '../../pipeline/series.ts';
import type { SelfFamily, SelfTelemetry } from '../../pipeline/telemetry.ts';
import type { PrometheusExporterConfig } from './config.ts';
import { PROBLEM_REASONS, metricName, prometheusFamilies, type Problem } from './names.ts';
import { withResourceLabels } from './resource.ts';
import { buildInfoFamily, selfFamilies } from './self-names.ts';
import { DROP_REASONS } from './connections.ts';
import { MetricsServer } from './server.ts';
import { agentStatus, noHealth } from '../../status/model.ts';
import { ExpositionWriter } from './text.ts';
import type { WebGuard } from './websecurity.ts';
import { CollectorError } from '../../errors.ts';

/** A finished collection is shared by the scrapes of at most this long after it (see scrape()). */
const MAX_REUSE_MS = 1000;

/** Problems logged so far (each once); bounded so that changing names cannot grow it forever. */
const MAX_LOGGED_PROBLEMS = 1000;

/**
 * exporter `prometheus`: keeps the latest batch of every source, and on each
 * scrape pulls fresh data, assembles it, gives it Prometheus names (names.ts:
 * collisions are dropped, counted and logged once) and writes the text (text.ts:
 * what @opentelemetry/exporter-prometheus's serializer writes, numbers in the Go
 * client's form), kernel data first, then the agent's self-metrics. Concurrent
 * scrapes share one collection.
 */
export class PrometheusMetricsExporter implements Exporter {
  private readonly id: string;
  private readonly config: PrometheusExporterConfig;
  private readonly logger: Logger;
  private readonly latest: LatestBatches;
  private host: Host | undefined;
  private readonly writer = new ExpositionWriter();
  private server: MetricsServer | undefined;
  private inflight: Promise<Buffer[]> | undefined;
  /** The last collection, while scrapes may still share it (see scrape()). */
  private recent: Promise<Buffer[]> | undefined;
  private scrapes: SelfFamily | undefined;
  private duration: SelfFamily | undefined;
  private droppedSeries: SelfFamily | undefined;
  private droppedConnections: SelfFamily | undefined;
  private readonly logged = new Set<string>();
  /** ebpf_exporter's `build_info` (client_golang's version collector), with the agent's build. */
  private readonly buildInfo: MetricFamily;
  private readonly web: WebGuard | undefined;
  /** For /status. */
  private lastScrape: { atMs: number; code: number } | undefined;
  private lastCollectionSeconds: number | undefined;

  constructor(config: PrometheusExporterConfig, logger: Logger, id = 'prometheus', web?: WebGuard) {
    this.id = id;
    this.web = web;
    this.config = config;
    this.logger = logger;
    // Prometheus has no start times: it takes a decrease as a reset by itself.
    this.latest = new LatestBatches(logger, { trackResets: false });
    this.buildInfo = buildInfoFamily(config.namespace);
  }

  /** Where the server listens once started (the real port when 0 was asked). */
  get address(): { host: string; port: number } | undefined {
    return this.server?.address;
  }

  describe(): Record<string, unknown> {
    const a = this.server?.address;
    if (!a) return {};
    const host = a.host.includes(':') ? `[${a.host}]` : a.host;
    return {
      metrics: `${this.server?.tls ? 'https' : 'http'}://${host}:${a.port}${this.config.metrics_path}`,
    };
  }

  /**
   * Ready once it listens; details for /status: where it serves, the last scrape (time and
   * code), the last collection's duration and when each receiver feeding it last collected.
   */
  health(): ComponentHealth {
    const a = this.server?.address;
    const iso = (ms: number | undefined): string | null =>
      ms === undefined ? null : new Date(ms).toISOString();
    return {
      ready: a !== undefined,
      problems: a ? [] : ['not listening'],
      details: {
        endpoint: this.describe()['metrics'] ?? null,
        last_scrape: iso(this.lastScrape?.atMs),
        last_scrape_code: this.lastScrape?.code ?? null,
        last_collection_seconds: this.lastCollectionSeconds ?? null,
        receivers: this.latest
          .sourceTimes()
          .map(({ source, timeMs }) => ({ receiver: source, last_collection: iso(timeMs) })),
      },
    };
  }

  consume(input$: Observable<MetricBatch>): void {
    this.latest.follow(input$);
  }

  forgetSource(source: string): void {
    this.latest.forget(source);
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
    // A healthy agent exposes 0, so that rate() and alerts see the series before a drop.
    for (const reason of PROBLEM_REASONS) this.droppedSeries.add({ exporter: this.id, reason }, 0);
    this.droppedConnections = t.counter(
      'prometheus_connections_dropped_total',
      'Connections to the metrics endpoint the agent closed, by reason: evicted (the least recently used idle one, to admit a new one at max_connections), refused (at the cap with every connection busy), silent (no request within the headers timeout)',
    );
    for (const reason of DROP_REASONS) this.droppedConnections.add({ exporter: this.id, reason }, 0);
    this.server = new MetricsServer({
      host: this.config.endpoint.host,
      port: this.config.endpoint.port,
      fd: this.config.listen_fd,
      maps: this.config.maps_endpoint ? () => host.dumpMaps?.() ?? '' : undefined,
      metricsPath: this.config.metrics_path,
      maxRequests: this.config.max_requests,
      maxConnections: this.config.max_connections,
      onConnectionDrop: (reason) => this.droppedConnections?.add({ exporter: this.id, reason }),
      scrape: () => this.scrape(),
      ready: () => host.ready(),
      health: () => host.health?.(),
      onScrape: (code) => {
        this.lastScrape = { atMs: Date.now(), code };
        this.scrapes?.add({ exporter: this.id, code: String(code) });
      },
      logger: this.logger,
      web: this.web,
      status: host.health
        ? () => agentStatus({ health: host.health?.() ?? noHealth, telemetry: t })
        : undefined,
    });
    try {
      await this.server.listen();
    } catch (err) {
      // The key the address came from, for its position (AgentConfig.place).
      const key = this.config.listen_fd === undefined ? 'endpoint' : 'listen_fd';
      if (err instanceof CollectorError)
        throw new CollectorError(err.code, err.message, { path: `exporters.${this.id}.${key}`, cause: err });
      throw err;
    }
    const a = this.server.address;
    this.logger.info(
      {
        endpoint: `${a.host}:${a.port}`,
        path: this.config.metrics_path,
        tls: this.server.tls,
        max_connections: this.server.connectionCap,
      },
      'serving metrics',
    );
    if (this.web && this.web.settings.users.size > 0 && !this.server.tls)
      this.logger.warn('basic auth without TLS: passwords cross the network in clear text');
  }

  async shutdown(): Promise<void> {
    this.latest.stop();
    await this.server?.close();
    this.server = undefined;
  }

  /**
   * One exposition text; scrapes that arrive while one is being made share it, and so do those
   * that arrive within the last collection's own duration after it ended (at most
   * MAX_REUSE_MS): Node accepts about one connection per turn of the event loop, so under a
   * flood each late connection would otherwise run a whole collection of its own and the
   * accept queue would drain at a few per second. This bounds collecting to about half the
   * time. The collection starts on the next turn (setImmediate), after every request read in
   * this one.
   */
  scrape(): Promise<Buffer[]> {
    if (this.inflight) return this.inflight;
    if (this.recent) return this.recent;
    const t0 = performance.now();
    // One promise for the collection and its reuse: the server shares a body per promise.
    const collection = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.collectText());
    this.inflight = collection;
    collection.then(
      () => {
        this.inflight = undefined;
        this.recent = collection;
        // Dropped when the window ends, so no exposition outlives it (RSS back to its base).
        setTimeout(
          () => {
            if (this.recent === collection) this.recent = undefined;
          },
          Math.min(MAX_REUSE_MS, performance.now() - t0),
        ).unref();
      },
      () => {
        this.inflight = undefined;
      },
    );
    return collection;
  }

  private async collectText(): Promise<Buffer[]> {
    if (!this.host || !this.server) throw new Error('exporter not started');
    const t0 = performance.now();
    await this.host.pull();
    const text = this.text();
    // Shown by the next scrape: this one's text is already made.
    this.lastCollectionSeconds = (performance.now() - t0) / 1000;
    this.duration?.set({ exporter: this.id }, this.lastCollectionSeconds);
    return text;
  }

  /** Kernel data, then the self-metrics: the exposition's bytes (ExpositionWriter.writeBytes). */
  private text(): Buffer[] {
    const selfNames = new Set<string>();
    const telemetry = this.host?.telemetry;
    const ns = this.config.namespace;
    // Note which names the self-metrics take, to write those families last.
    const observed: SelfTelemetry | undefined = telemetry
      ? (Object.create(telemetry, {
          snapshot: {
            value: (): MetricFamily[] => {
              const self = selfFamilies(telemetry, this.buildInfo);
              for (const f of self)
                selfNames.add(
                  metricName(f.name, f.unprefixed ? '' : ns, f.kind, f.kind === 'counter' && f.asNamed),
                );
              return self;
            },
          },
        }) as SelfTelemetry)
      : undefined;
    let assembled = this.config.resource_to_telemetry_conversion
      ? this.latest.groups(observed).flatMap((g) => withResourceLabels(g.families, g.resource))
      : this.latest.families(observed);
    if (!this.config.add_metric_suffixes)
      assembled = assembled.map((f) =>
        f.kind === 'counter' && !f.asNamed ? withFields(f, { asNamed: true }) : f,
      );
    // Without resource labels every family comes straight from assemble (or the
    // self-metrics), whose label sets are distinct within a family.
    const families = prometheusFamilies(assembled, ns, (p) => this.problem(p), {
      distinctWithinFamily: !this.config.resource_to_telemetry_conversion,
    });
    // A family without series is not written (as the Go client leaves out a metric with no
    // samples): no HELP/TYPE of a map still empty or of run statistics the kernel does not keep.
    const live = families.filter((f) => pointCount(f) > 0);
    const kernel = live.filter((f) => !selfNames.has(f.name));
    const self = live.filter((f) => selfNames.has(f.name));
    return this.writer.writeBytes([...kernel, ...self]);
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
