import type { ProcessorFactory } from '../../pipeline/component.ts';
import { configSchema, type KsymProcessorConfig } from './config.ts';
import { KsymProcessor } from './processor.ts';

export const ksymProcessorFactory: ProcessorFactory<KsymProcessorConfig> = {
  type: 'ksym',
  kind: 'processor',
  configSchema,
  create(settings, config) {
    return new KsymProcessor(config, settings.logger);
  },
};
