import type { Observable } from 'rxjs';
import type { Logger } from 'pino';
import type { ComponentHealth, Exporter, Host } from '../../pipeline/component.ts';
import type { LogBatch, MetricBatch, SpanBatch } from '../../pipeline/data.ts';
import type { OtlpSendSettings } from './config.ts';
import { OtlpEvents } from './events.ts';
import { OtlpMetricsExporter } from './exporter.ts';
import type { OtlpWire } from './transport.ts';

/**
 * exporters `otlp` and `otlphttp`: one component for every pipeline type it is in. Each half exists only
 * when a pipeline of its type feeds the exporter (the graph calls `consume*` before
 * start): metrics (OtlpMetricsExporter: periodic cumulative collections), traces and
 * logs (OtlpEvents: queued, batched records). They share the wire (transport.ts: the
 * endpoint, TLS, headers, compression and timeout of one protocol) and the retry
 * settings; shutdown stops them together.
 */
export class OtlpExporter implements Exporter {
  private readonly id: string;
  private readonly config: OtlpSendSettings;
  private readonly wire: OtlpWire;
  private readonly logger: Logger;
  readonly events: OtlpEvents;
  metrics: OtlpMetricsExporter | undefined;
  private stopped: Promise<void> | undefined;

  constructor(id: string, config: OtlpSendSettings, wire: OtlpWire, logger: Logger) {
    this.id = id;
    this.config = config;
    this.wire = wire;
    this.logger = logger;
    this.events = new OtlpEvents(id, config, wire, logger);
  }

  describe(): Record<string, unknown> {
    return { otlp: this.wire.endpoint };
  }

  consume(input$: Observable<MetricBatch>): void {
    this.metrics ??= new OtlpMetricsExporter(this.id, this.config, this.wire, this.logger);
    this.metrics.consume(input$);
  }

  consumeSpans(input$: Observable<SpanBatch>): void {
    this.events.consumeSpans(input$);
  }

  consumeLogs(input$: Observable<LogBatch>): void {
    this.events.consumeLogs(input$);
  }

  async start(host: Host): Promise<void> {
    if (this.stopped) return;
    await this.metrics?.start(host);
    this.events.start(host);
  }

  /** Ready (a failing backend does not make the agent useless); each failing signal is a problem. */
  health(): ComponentHealth {
    const halves = [
      ['metrics', this.metrics?.sends],
      ['traces', this.events.traces?.sends],
      ['logs', this.events.logs?.sends],
    ] as const;
    const problems = halves.flatMap(([, s]) => {
      const p = s?.problem();
      return p ? [p] : [];
    });
    const details: Record<string, unknown> = { endpoint: this.wire.endpoint };
    for (const [signal, s] of halves) if (s) details[signal] = s.details();
    return { ready: true, problems, details };
  }

  shutdown(): Promise<void> {
    this.stopped ??= Promise.all([this.metrics?.shutdown(), this.events.shutdown()]).then(() => undefined);
    return this.stopped;
  }
}
