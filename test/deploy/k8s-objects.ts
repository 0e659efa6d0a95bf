/**
 * Kubernetes objects as the deploy tests see them: rendered by `kubectl kustomize` or by our
 * helm-template subset, and validated against the Kubernetes OpenAPI schemas (kubernetes-models,
 * @kubernetes-models/prometheus-operator) with unknown fields rejected.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DaemonSet, type IDaemonSet } from 'kubernetes-models/apps/v1';
import {
  ConfigMap,
  Namespace,
  Service,
  ServiceAccount,
  type IConfigMap,
  type IContainer,
  type INamespace,
  type IPodSpec,
  type IService,
  type IServiceAccount,
} from 'kubernetes-models/v1';
import {
  ClusterRole,
  ClusterRoleBinding,
  type IClusterRole,
  type IClusterRoleBinding,
} from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import {
  PodMonitor,
  PrometheusRule,
  ServiceMonitor,
  type IPodMonitor,
  type IPrometheusRule,
  type IServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { repoRoot, runCli } from '../helpers/agent.ts';

/** A rendered object: kind and metadata known, the rest as parsed. */
export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

interface Kinds {
  Namespace: INamespace;
  ServiceAccount: IServiceAccount;
  ConfigMap: IConfigMap;
  Service: IService;
  DaemonSet: IDaemonSet;
  ClusterRole: IClusterRole;
  ClusterRoleBinding: IClusterRoleBinding;
  ServiceMonitor: IServiceMonitor;
  PodMonitor: IPodMonitor;
  PrometheusRule: IPrometheusRule;
}

/** The model classes of the kinds we ship; any other kind is an error. */
const models: Record<string, { prototype: { validate(): void } }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/DaemonSet': DaemonSet,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** `kubectl kustomize DIR` (kustomize v5 built into kubectl), as objects. */
export function kustomize(dir: string): K8sObject[] {
  const out = execFileSync('kubectl', ['kustomize', join(repoRoot, dir)], { encoding: 'utf8' });
  return parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
}

/**
 * Problems of one object: schema violations, and fields the schema does not know.
 *
 * kubernetes-models ships compiled validators (ajv standalone) whose schemas allow unknown
 * properties, as the API server's pruning does. To reject them, the object is validated through
 * a Proxy that records which keys the validator looked up: a validator reads every property its
 * schema declares, and iterates the keys of maps (labels, data, …). A key that was neither looked
 * up nor iterated over is not in the schema.
 */
export function validateStrict(obj: {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: { name?: string };
}): string[] {
  const id = `${obj.apiVersion ?? '?'}/${obj.kind ?? '?'}`;
  const model = models[id];
  if (!model) return [`${id}: not a kind we validate`];
  const read = new WeakMap<object, Set<PropertyKey>>();
  const iterated = new WeakSet<object>();
  const wrap = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    if (!read.has(v)) read.set(v, new Set());
    return new Proxy(v, {
      get(t, k, r) {
        read.get(t)?.add(k);
        return wrap(Reflect.get(t, k, r));
      },
      has(t, k) {
        read.get(t)?.add(k);
        return Reflect.has(t, k);
      },
      ownKeys(t) {
        iterated.add(t);
        return Reflect.ownKeys(t);
      },
    });
  };
  const where = `${id} ${String(obj.metadata?.name)}`;
  try {
    model.prototype.validate.call(wrap(obj));
  } catch (err) {
    return [`${where}: ${(err as Error).message}`];
  }
  const unknown: string[] = [];
  const walk = (v: unknown, path: string): void => {
    if (typeof v !== 'object' || v === null) return;
    for (const [k, child] of Object.entries(v)) {
      if (!iterated.has(v) && !read.get(v)?.has(k)) unknown.push(`${where}: ${path}.${k}: unknown field`);
      else walk(child, `${path}.${k}`);
    }
  };
  walk(obj, '');
  return unknown;
}

export function find<K extends keyof Kinds>(objects: readonly K8sObject[], kind: K, name?: string): Kinds[K] {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata?.name === name));
  if (!o)
    throw new Error(`no ${kind}${name ? ` ${name}` : ''} among ${objects.map((x) => x.kind).join(', ')}`);
  return o as unknown as Kinds[K];
}

/** The DaemonSet's pod spec. */
export function podSpec(objects: readonly K8sObject[]): IPodSpec {
  const spec = find(objects, 'DaemonSet').spec?.template.spec;
  if (!spec) throw new Error('the DaemonSet has no pod spec');
  return spec;
}

/** The DaemonSet's only container. */
export function agentContainer(objects: readonly K8sObject[]): IContainer {
  const containers = podSpec(objects).containers;
  if (containers.length !== 1) throw new Error(`the DaemonSet has ${containers.length} containers`);
  return containers[0] as IContainer;
}

/** Set a field deep inside a parsed object (tests that break an object on purpose). */
export function setField(obj: object, path: readonly (string | number)[], value: unknown): void {
  let at = obj as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  at[path[path.length - 1] as string | number] = value;
}

/**
 * Run the agent's CLI `command` as the DaemonSet's container would: the ConfigMap's files in
 * place of the mount, the container's args (with `run` replaced) and env (downward API values faked).
 */
export function asContainer(objects: readonly K8sObject[], command: string): ReturnType<typeof runCli> {
  const c = agentContainer(objects);
  const dir = mkdtempSync(join(tmpdir(), 'ds-config-'));
  try {
    const configMap = podSpec(objects).volumes?.find((v) => v.name === 'config')?.configMap?.name;
    for (const [name, text] of Object.entries(find(objects, 'ConfigMap', configMap).data ?? {})) {
      writeFileSync(join(dir, name), text);
    }
    const mountPath = c.volumeMounts?.find((m) => m.name === 'config')?.mountPath ?? '/nowhere';
    const args = (c.args ?? []).map((a) =>
      a === 'run' ? command : a.startsWith(`${mountPath}/`) ? join(dir, a.slice(mountPath.length + 1)) : a,
    );
    const env: Record<string, string> = {};
    for (const e of c.env ?? []) {
      const field = e.valueFrom?.fieldRef?.fieldPath;
      env[e.name] = field !== undefined ? `fake-${field}` : (e.value ?? '');
    }
    return runCli(args, env);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
