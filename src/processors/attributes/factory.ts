import type { ProcessorFactory } from '../../pipeline/component.ts';
import { configSchema, type AttributesProcessorConfig } from './config.ts';
import { AttributesProcessor } from './processor.ts';

export const attributesProcessorFactory: ProcessorFactory<AttributesProcessorConfig> = {
  type: 'attributes',
  kind: 'processor',
  pipelineTypes: ['metrics', 'traces', 'logs'],
  configSchema,
  create(settings, config) {
    return new AttributesProcessor(settings.id, config, settings.logger);
  },
};
