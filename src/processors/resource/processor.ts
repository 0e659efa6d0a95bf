import type { OperatorFunction } from 'rxjs';
import type { Processor } from '../../pipeline/component.ts';
import type { LogBatch, MetricBatch, SpanBatch } from '../../pipeline/data.ts';
import type { ResourceProcessorConfig } from './config.ts';
import { compileResourceActions, resource } from './operator.ts';

/**
 * processor `resource`: insert, update, upsert, delete and hash resource attributes of
 * batches (metrics, spans and logs). Nothing can fail per batch, so it has no self-metrics and holds nothing.
 */
export class ResourceProcessor implements Processor {
  readonly operator: OperatorFunction<MetricBatch, MetricBatch>;
  readonly spansOperator: OperatorFunction<SpanBatch, SpanBatch>;
  readonly logsOperator: OperatorFunction<LogBatch, LogBatch>;

  constructor(config: ResourceProcessorConfig) {
    const actions = compileResourceActions(config.attributes);
    this.operator = resource(actions);
    this.spansOperator = resource<SpanBatch>(actions);
    this.logsOperator = resource<LogBatch>(actions);
  }

  async start(): Promise<void> {
    // Nothing to start.
  }

  async shutdown(): Promise<void> {
    // Nothing held.
  }
}
