import type { Observable, Subscription } from 'rxjs';
import type { Logger } from 'pino';
import { messageOf } from '../errors.ts';
import { assemble, type AssembleStats } from './assemble.ts';
import type { MetricBatch, MetricFamily } from './data.ts';
import type { SelfTelemetry } from './telemetry.ts';

/**
 * What an exporter holds between exports: the newest batch of every source
 * (batches are cumulative, so the newest replaces the older), assembled on
 * demand together with the agent's self-metrics.
 */
export class LatestBatches {
  private readonly latest = new Map<string, MetricBatch>();
  private readonly subscriptions: Subscription[] = [];
  readonly assembleStats: AssembleStats = { undecoded: 0, badBuckets: 0 };
  private readonly logger: Logger;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  follow(input$: Observable<MetricBatch>): void {
    this.subscriptions.push(
      input$.subscribe({
        next: (batch) => this.latest.set(batch.source, batch),
        error: (err: unknown) => this.logger.error({ err: messageOf(err) }, 'metrics stream failed'),
      }),
    );
  }

  /** Every source's families, assembled, followed by the self-metrics. */
  families(telemetry: SelfTelemetry | undefined): MetricFamily[] {
    const out: MetricFamily[] = [];
    for (const batch of this.latest.values()) out.push(...assemble(batch.families, this.assembleStats));
    if (telemetry) out.push(...telemetry.snapshot());
    return out;
  }

  stop(): void {
    for (const s of this.subscriptions.splice(0)) s.unsubscribe();
  }
}
