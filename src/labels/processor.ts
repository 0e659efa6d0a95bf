import type { OperatorFunction } from 'rxjs';
import type { Logger } from 'pino';
import type { Host, Processor } from '../pipeline/component.ts';
import type { LogBatch, MetricBatch, SpanBatch } from '../pipeline/data.ts';
import type { SelfFamily } from '../pipeline/telemetry.ts';
import type { PointCounts } from './points.ts';
import { logsThrough, spansThrough, type RecordCounts, type RecordFn } from './events.ts';

/** Called once per batch with what the walk counted. */
export type CountsSink = (batch: MetricBatch, counts: PointCounts) => void;

/**
 * The component around a label operator (relabel, filter, attributes): registers the
 * self-metrics at start and feeds them from the operator's per-batch counts.
 *
 *   processor_skipped_points_total{processor}  points passed untouched: a label still pending decoders
 *   processor_errors_total{processor}          points dropped because processing them failed
 *                                              (spans and log records too, in traces/logs pipelines)
 *
 * Given a `RecordFn`, it also processes spans and log records (src/labels/events.ts).
 */
export class LabelProcessor implements Processor {
  readonly operator: OperatorFunction<MetricBatch, MetricBatch>;
  readonly spansOperator?: OperatorFunction<SpanBatch, SpanBatch>;
  readonly logsOperator?: OperatorFunction<LogBatch, LogBatch>;
  private readonly id: string;
  private readonly logger: Logger;
  private skipped: SelfFamily | undefined;
  private errors: SelfFamily | undefined;

  constructor(
    id: string,
    logger: Logger,
    build: (sink: CountsSink) => OperatorFunction<MetricBatch, MetricBatch>,
    recordFn?: RecordFn,
  ) {
    this.id = id;
    this.logger = logger;
    this.operator = build((batch, counts) => this.record(batch, counts));
    if (recordFn) {
      const sink = (source: string, counts: RecordCounts): void => this.recordErrors(source, counts);
      this.spansOperator = spansThrough(recordFn, sink);
      this.logsOperator = logsThrough(recordFn, sink);
    }
  }

  private recordErrors(source: string, counts: RecordCounts): void {
    this.errors?.add({ processor: this.id }, counts.errors);
    this.logger.warn(
      { source, count: counts.errors, last: counts.lastError },
      'spans or log records dropped by processing errors',
    );
  }

  async start(host: Host): Promise<void> {
    this.skipped = host.telemetry.counter(
      'processor_skipped_points_total',
      'Points a processor passed untouched because a label was still pending decoders',
    );
    this.errors = host.telemetry.counter(
      'processor_errors_total',
      'Points a processor dropped because processing them failed',
    );
  }

  async shutdown(): Promise<void> {
    // Nothing held.
  }

  private record(batch: MetricBatch, counts: PointCounts): void {
    if (counts.skipped > 0) this.skipped?.add({ processor: this.id }, counts.skipped);
    if (counts.errors > 0) {
      this.errors?.add({ processor: this.id }, counts.errors);
      this.logger.warn(
        { source: batch.source, count: counts.errors, last: counts.lastError },
        'points dropped by processing errors',
      );
    }
  }
}
