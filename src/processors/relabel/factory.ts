import type { ProcessorFactory } from '../../pipeline/component.ts';
import { configSchema, type RelabelProcessorConfig } from './config.ts';
import { RelabelProcessor } from './processor.ts';

export const relabelProcessorFactory: ProcessorFactory<RelabelProcessorConfig> = {
  type: 'relabel',
  kind: 'processor',
  configSchema,
  create(settings, config) {
    return new RelabelProcessor(settings.id, config, settings.logger);
  },
};
