import type { ExtensionFactory } from '../../pipeline/component.ts';
import { configSchema, type HealthCheckConfig } from './config.ts';
import { HealthCheckExtension } from './extension.ts';

export const healthCheckExtensionFactory: ExtensionFactory<HealthCheckConfig> = {
  type: 'health_check',
  kind: 'extension',
  configSchema,
  create(settings, config) {
    return new HealthCheckExtension(config, settings.logger);
  },
};
