import { z } from 'zod';

const labelName = z
  .string()
  .regex(
    /^[a-zA-Z_][a-zA-Z0-9_]*$/,
    'expected a label name: letters, digits and _, not starting with a digit',
  );

export const configSchema = z.strictObject({
  /** The label that holds a cgroup path (decoded by the `cgroup` decoder). */
  from: labelName.default('cgroup'),
  /** Names of the labels added. */
  labels: z
    .strictObject({
      container_id: labelName.default('container_id'),
      container_runtime: labelName.default('container_runtime'),
      k8s_pod_uid: labelName.default('k8s_pod_uid'),
      k8s_pod_qos: labelName.default('k8s_pod_qos'),
    })
    .prefault({}),
});

export type ContainerProcessorConfig = z.infer<typeof configSchema>;
