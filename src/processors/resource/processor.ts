import type { OperatorFunction } from 'rxjs';
import type { Processor } from '../../pipeline/component.ts';
import type { MetricBatch } from '../../pipeline/data.ts';
import type { ResourceProcessorConfig } from './config.ts';
import { compileResourceActions, resource } from './operator.ts';

/**
 * processor `resource`: insert, update, upsert, delete and hash resource attributes of
 * batches. Nothing can fail per batch, so it has no self-metrics and holds nothing.
 */
export class ResourceProcessor implements Processor {
  readonly operator: OperatorFunction<MetricBatch, MetricBatch>;

  constructor(config: ResourceProcessorConfig) {
    this.operator = resource(compileResourceActions(config.attributes));
  }

  async start(): Promise<void> {
    // Nothing to start.
  }

  async shutdown(): Promise<void> {
    // Nothing held.
  }
}
