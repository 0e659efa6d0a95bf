import type { ProcessorFactory } from '../../pipeline/component.ts';
import { configSchema, type ResourceProcessorConfig } from './config.ts';
import { ResourceProcessor } from './processor.ts';

export const resourceProcessorFactory: ProcessorFactory<ResourceProcessorConfig> = {
  type: 'resource',
  kind: 'processor',
  pipelineTypes: ['metrics', 'traces', 'logs'],
  configSchema,
  create(_settings, config) {
    return new ResourceProcessor(config);
  },
};
