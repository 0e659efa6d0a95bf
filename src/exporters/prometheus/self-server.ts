import type { Logger } from 'pino';
import type { HostPort } from '../../config/primitives.ts';
import type { AgentHealth } from '../../pipeline/component.ts';
import type { SelfTelemetry } from '../../pipeline/telemetry.ts';
import { agentStatus, noHealth } from '../../status/model.ts';
import { prometheusFamilies } from './names.ts';
import { buildInfoFamily, selfFamilies } from './self-names.ts';
import { MetricsServer } from './server.ts';
import { ExpositionWriter } from './text.ts';

/** ebpf_exporter's namespace: the self-metrics keep the names they have on a pipeline's /metrics. */
const NAMESPACE = 'ebpf_exporter';

export interface SelfMetricsServerOptions {
  readonly endpoint: HostPort;
  /** The agent's self-metrics now (a reload may replace the agent). */
  readonly telemetry: () => SelfTelemetry;
  readonly ready: () => boolean;
  /** For /status (absent: not served). */
  readonly health?: () => AgentHealth;
  readonly logger: Logger;
}

/**
 * `service.telemetry.metrics.readers` (the collector's `:8888`): the agent's self-metrics on
 * their own endpoint, `/metrics`, under the names they have on a prometheus exporter's path
 * (self-names.ts, namespace `ebpf_exporter`), the level's families only; `/healthz`,
 * `/readyz` and `/status` as on the agent's port.
 */
export class SelfMetricsServer {
  private readonly options: SelfMetricsServerOptions;
  private readonly server: MetricsServer;
  private readonly writer = new ExpositionWriter();
  private readonly buildInfo = buildInfoFamily(NAMESPACE);

  constructor(options: SelfMetricsServerOptions) {
    this.options = options;
    this.server = new MetricsServer({
      host: options.endpoint.host,
      port: options.endpoint.port,
      metricsPath: '/metrics',
      maxRequests: 10,
      scrape: () => Promise.resolve(this.text()),
      ready: options.ready,
      logger: options.logger,
      status: options.health
        ? () => agentStatus({ health: options.health?.() ?? noHealth, telemetry: options.telemetry() })
        : undefined,
    });
  }

  get address(): { host: string; port: number } {
    return this.server.address;
  }

  async listen(): Promise<void> {
    await this.server.listen();
    const a = this.server.address;
    this.options.logger.info({ endpoint: `${a.host}:${a.port}`, path: '/metrics' }, 'serving self-metrics');
  }

  close(): Promise<void> {
    return this.server.close();
  }

  /** The exposition text of the self-metrics the level exports. */
  text(): string {
    const families = prometheusFamilies(
      selfFamilies(this.options.telemetry(), this.buildInfo),
      NAMESPACE,
      () => {}, // self-metric names are ours: no collisions to report
      { distinctWithinFamily: true },
    );
    return this.writer.write(families.filter((f) => f.points.length > 0));
  }
}
