import type { ProcessorFactory } from '../../pipeline/component.ts';
import { configSchema, type FilterProcessorConfig } from './config.ts';
import { FilterProcessor } from './processor.ts';

export const filterProcessorFactory: ProcessorFactory<FilterProcessorConfig> = {
  type: 'filter',
  kind: 'processor',
  pipelineTypes: ['metrics', 'traces', 'logs'],
  configSchema,
  create(settings, config) {
    return new FilterProcessor(settings.id, config, settings.logger);
  },
};
