import type { ProcessorFactory } from '../../pipeline/component.ts';
import { configSchema, type ContainerProcessorConfig } from './config.ts';
import { ContainerProcessor } from './processor.ts';

export const containerProcessorFactory: ProcessorFactory<ContainerProcessorConfig> = {
  type: 'container',
  kind: 'processor',
  configSchema,
  create(_settings, config) {
    return new ContainerProcessor(config);
  },
};
