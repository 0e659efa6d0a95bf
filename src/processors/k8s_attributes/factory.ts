import type { ProcessorFactory } from '../../pipeline/component.ts';
import { CollectorError } from '../../errors.ts';
import { configSchema, type K8sAttributesProcessorConfig } from './config.ts';
import { K8sAttributesProcessor } from './processor.ts';

export const k8sAttributesProcessorFactory: ProcessorFactory<K8sAttributesProcessorConfig> = {
  type: 'k8s_attributes',
  kind: 'processor',
  configSchema,
  create(settings, config) {
    const nodeName = config.node_name ?? process.env['K8S_NODE_NAME'];
    if (nodeName === undefined || nodeName === '') {
      throw new CollectorError(
        'ERR_CONFIG_MISSING',
        'no node to watch: set node_name, or K8S_NODE_NAME from the downward API (fieldRef spec.nodeName)',
        { path: `processors.${settings.id}.node_name` },
      );
    }
    return new K8sAttributesProcessor(config, nodeName, settings.logger);
  },
};
