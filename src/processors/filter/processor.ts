import type { Logger } from 'pino';
import { LabelProcessor } from '../../labels/processor.ts';
import type { FilterProcessorConfig } from './config.ts';
import { compileFilter, filter } from './operator.ts';

/** processor `filter`: keeps or drops whole metrics by name and points by label matchers. */
export class FilterProcessor extends LabelProcessor {
  constructor(id: string, config: FilterProcessorConfig, logger: Logger) {
    const compiled = compileFilter(config);
    super(id, logger, (sink) => filter(compiled, sink));
  }
}
