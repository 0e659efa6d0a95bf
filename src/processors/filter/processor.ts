import type { Logger } from 'pino';
import { LabelProcessor } from '../../labels/processor.ts';
import type { FilterProcessorConfig } from './config.ts';
import { METRIC_NAME_LABEL } from '../../labels/names.ts';
import { compileFilter, filter, keepMetric, keepPoint } from './operator.ts';

/** processor `filter`: keeps or drops whole metrics by name and points by label matchers. */
export class FilterProcessor extends LabelProcessor {
  constructor(id: string, config: FilterProcessorConfig, logger: Logger) {
    const compiled = compileFilter(config);
    super(
      id,
      logger,
      (sink) => filter(compiled, sink),
      // Spans and log records: the name patterns match the span (event) name, the matchers its attributes.
      (labels) => keepMetric(compiled, labels.get(METRIC_NAME_LABEL) ?? '') && keepPoint(compiled, labels),
    );
  }
}
