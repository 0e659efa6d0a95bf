import type { Observable, Subscription } from 'rxjs';
import type { Logger } from 'pino';
import { messageOf } from '../errors.ts';
import { assemble, type AssembleStats } from './assemble.ts';
import type { MetricBatch, MetricFamily } from './data.ts';
import { ResetTracker } from './resets.ts';
import { pointCount } from './series.ts';
import type { SelfTelemetry } from './telemetry.ts';

/** The self-metric of the points each receiver gave to the last collection. */
export const RECEIVER_DATA_POINTS = {
  name: 'receiver_data_points',
  help: 'Data points a receiver gave to the last collection (after identical label sets are summed)',
} as const;

/** Families that share one set of resource attributes (undefined: none). */
export interface ResourceGroup {
  readonly resource: Readonly<Record<string, string>> | undefined;
  readonly families: MetricFamily[];
}

/**
 * What an exporter holds between exports: the newest batch of every source
 * (batches are cumulative, so the newest replaces the older), assembled on
 * demand together with the agent's self-metrics. Counter resets (a map entry
 * deleted and created again) give the series a new start time (see ResetTracker).
 */
export class LatestBatches {
  private readonly latest = new Map<string, MetricBatch>();
  private readonly subscriptions: Subscription[] = [];
  readonly assembleStats: AssembleStats = { undecoded: 0, badBuckets: 0 };
  /** Undefined when the exporter has no use for start times (Prometheus sees resets by itself). */
  readonly resets: ResetTracker | undefined;
  private readonly logger: Logger;

  constructor(logger: Logger, options: { trackResets?: boolean } = {}) {
    this.logger = logger;
    this.resets = options.trackResets === false ? undefined : new ResetTracker();
  }

  follow(input$: Observable<MetricBatch>): void {
    this.subscriptions.push(
      input$.subscribe({
        next: (batch) => this.latest.set(batch.source, batch),
        error: (err: unknown) => this.logger.error({ err: messageOf(err) }, 'metrics stream failed'),
      }),
    );
  }

  /**
   * Every source's families, assembled, followed by the self-metrics (which get, first,
   * `receiver_data_points{receiver}`: the points each source gave to this collection).
   */
  families(telemetry: SelfTelemetry | undefined): MetricFamily[] {
    return this.groups(telemetry).flatMap((g) => g.families);
  }

  /**
   * The same families, grouped by the resource of the batch they come from, in order of
   * first appearance. Batches without resource attributes and the self-metrics form the
   * group whose `resource` is undefined; batches with equal attributes (whatever their
   * order) share one group.
   */
  groups(telemetry: SelfTelemetry | undefined): ResourceGroup[] {
    const now = Date.now();
    const groups = new Map<string, ResourceGroup>();
    const groupOf = (resource: Readonly<Record<string, string>> | undefined): ResourceGroup => {
      const entries = Object.entries(resource ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const key = JSON.stringify(entries);
      let g = groups.get(key);
      if (!g) {
        g = { resource: entries.length === 0 ? undefined : Object.fromEntries(entries), families: [] };
        groups.set(key, g);
      }
      return g;
    };
    const points = telemetry?.gauge(RECEIVER_DATA_POINTS.name, RECEIVER_DATA_POINTS.help);
    for (const batch of this.latest.values()) {
      const assembled = assemble(batch.families, this.assembleStats);
      const families = this.resets ? this.resets.apply(assembled, batch.timeMs) : assembled;
      points?.set(
        { receiver: batch.source },
        families.reduce((n, f) => n + pointCount(f), 0),
      );
      groupOf(batch.resource).families.push(...families);
    }
    // Served on their own endpoint (service.telemetry.metrics.readers): not with the data.
    if (telemetry && !telemetry.ownEndpoint) {
      const self = telemetry.snapshot();
      groupOf(undefined).families.push(...(this.resets ? this.resets.apply(self, now) : self));
    }
    this.resets?.sweep(now);
    return [...groups.values()].filter((g) => g.families.length > 0);
  }

  /** A source that is gone (a receiver removed by a reload): its series end now. */
  forget(source: string): void {
    this.latest.delete(source);
  }

  /** Each source's newest batch time (ms since the epoch): when it was last collected. */
  sourceTimes(): { source: string; timeMs: number }[] {
    return [...this.latest.values()].map((b) => ({ source: b.source, timeMs: b.timeMs }));
  }

  stop(): void {
    for (const s of this.subscriptions.splice(0)) s.unsubscribe();
  }
}
