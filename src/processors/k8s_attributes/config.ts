import { z } from 'zod';
import { CONFIG_ERROR_CODES as C } from '../../config/codes.ts';
import { duration, formatDuration } from '../../config/types.ts';

/** A Prometheus-valid label name (the tag a pod label or annotation is written as). */
const labelName = z
  .string()
  .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'expected a label name like "app" (letters, digits and _)');

const extractRule = z.strictObject({
  /** The pod label (or annotation) key, e.g. `app.kubernetes.io/name`. */
  key: z.string().min(1),
  /** The label it is written as on the points. */
  tag_name: labelName,
});

export const configSchema = z
  .strictObject({
    /**
     * How to reach the API server: `serviceAccount` (in-cluster: KUBERNETES_SERVICE_HOST/PORT and
     * the mounted token and CA), `kubeConfig` (a kubeconfig file), `none` (`endpoint`, no credentials).
     */
    auth_type: z.enum(['serviceAccount', 'kubeConfig', 'none']).default('serviceAccount'),
    /** kubeconfig file for `auth_type: kubeConfig`; default $KUBECONFIG, then ~/.kube/config. */
    kubeconfig_path: z.string().min(1).optional(),
    /** kubeconfig context; default its current-context. */
    context: z.string().min(1).optional(),
    /** API server URL for `auth_type: none`, e.g. `http://127.0.0.1:8001` (kubectl proxy). */
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    /** Node whose pods are watched; default the K8S_NODE_NAME environment variable (downward API). */
    node_name: z.string().min(1).optional(),
    /** Input labels (set upstream by the `container` processor). */
    pod_uid_label: labelName.default('k8s_pod_uid'),
    container_id_label: labelName.default('container_id'),
    /** Pod labels and annotations to add as labels. */
    extract: z
      .strictObject({
        labels: z.array(extractRule).default([]),
        annotations: z.array(extractRule).default([]),
      })
      .default({ labels: [], annotations: [] }),
    /** How long points of a pod not (yet) known are held back before they pass without pod labels. */
    pending_timeout: duration({ maxMs: 300_000 }).default(5_000),
    /** Most unknown pods held at once; past it, points of further unknown pods pass at once. */
    max_pending: z.number().int().min(0).max(100_000).default(1_000),
    /** How long a deleted pod still labels points (its last data is still scraped). */
    deleted_grace: duration().default(120_000),
    /**
     * No watch event or bookmark for this long: the watch is considered stalled and the pods
     * re-listed. At least 2 s: the server is asked to end each watch at 90 % of it, in whole
     * seconds, which must come before the deadline.
     */
    liveness_timeout: duration({ minMs: 2_000 }).default(300_000),
    /** Timeout of a list request (and of connecting). */
    request_timeout: duration({ minMs: 100 }).default(30_000),
    /** Re-list backoff after a failure: starts here, doubles (with jitter) up to `backoff_max`. */
    backoff_initial: duration({ minMs: 10 }).default(1_000),
    backoff_max: duration({ minMs: 10 }).default(60_000),
  })
  .superRefine((c, ctx) => {
    if (c.auth_type === 'none' && c.endpoint === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoint'],
        input: undefined,
        message: 'auth_type none needs an endpoint, e.g. "http://127.0.0.1:8001"',
        params: { configCode: C.missing },
      });
    }
    if (c.backoff_max < c.backoff_initial) {
      ctx.addIssue({
        code: 'custom',
        path: ['backoff_max'],
        input: c.backoff_max,
        message: `backoff_max (${formatDuration(c.backoff_max)}) must be at least backoff_initial (${formatDuration(c.backoff_initial)})`,
        params: { configCode: C.value },
      });
    }
  });

export type K8sAttributesProcessorConfig = z.infer<typeof configSchema>;
