import type { OperatorFunction } from 'rxjs';
import type { Host, Processor } from '../../pipeline/component.ts';
import type { MetricBatch } from '../../pipeline/data.ts';
import type { ContainerProcessorConfig } from './config.ts';
import { addContainerLabels } from './operator.ts';

/**
 * processor `container`: container and pod labels from a label holding a
 * cgroup path. It supplies no decoder; list it after `cgroup` (an implicitly
 * added `cgroup` processor runs first in its pipeline).
 */
export class ContainerProcessor implements Processor {
  readonly operator: OperatorFunction<MetricBatch, MetricBatch>;

  constructor(config: ContainerProcessorConfig) {
    this.operator = addContainerLabels(config.from, {
      containerId: config.labels.container_id,
      containerRuntime: config.labels.container_runtime,
      podUid: config.labels.k8s_pod_uid,
      podQos: config.labels.k8s_pod_qos,
    });
  }

  async start(_host: Host): Promise<void> {}

  async shutdown(): Promise<void> {}
}
