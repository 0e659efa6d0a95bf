import type { ProcessorFactory } from '../../pipeline/component.ts';
import { configSchema, type CgroupProcessorConfig } from './config.ts';
import { CgroupProcessor } from './processor.ts';

export const cgroupProcessorFactory: ProcessorFactory<CgroupProcessorConfig> = {
  type: 'cgroup',
  kind: 'processor',
  configSchema,
  create(settings, config) {
    return new CgroupProcessor(config, settings.logger);
  },
};
