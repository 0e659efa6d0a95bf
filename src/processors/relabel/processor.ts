import type { Logger } from 'pino';
import { LabelProcessor } from '../../labels/processor.ts';
import type { RelabelProcessorConfig } from './config.ts';
import { compileRules, relabel } from './operator.ts';

/**
 * processor `relabel`: Prometheus `metric_relabel_configs` over every point whose
 * labels are final, with the metric name as `__name__`.
 */
export class RelabelProcessor extends LabelProcessor {
  constructor(id: string, config: RelabelProcessorConfig, logger: Logger) {
    const rules = compileRules(config.metric_relabel_configs);
    super(id, logger, (sink) => relabel(rules, sink));
  }
}
