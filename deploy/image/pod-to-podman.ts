/**
 * A rendered DaemonSet's pod, as `podman run` flags: the container's securityContext
 * (capabilities, read-only root filesystem, user, privilege escalation, seccomp profile),
 * its volumes and mounts, hostPID/hostNetwork/hostIPC, env (values and the downward API's
 * fieldRefs), memory/CPU limits, command/args and the termination grace period. Used to run
 * the image under podman exactly as a kubelet would run the pod (test/deploy/podman.e2e.test.ts).
 *
 * Anything in the pod spec that changes how the container runs and is not translated here is
 * an error, so a new field in the manifests cannot silently go untested. What a kubelet adds on
 * its own (service-account token, KUBERNETES_SERVICE_* env) has no place without a cluster.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

type Obj = Record<string, unknown>;

export interface PodRunOptions {
  /** The local image to run instead of the manifest's (which names a registry image). */
  readonly image: string;
  /** Host directory per ConfigMap name holding its keys as files (what the kubelet projects). */
  readonly configMaps: Readonly<Record<string, string>>;
  /** The kubelet's seccomp directory: a Localhost profile `P` is `<seccompRoot>/P`. */
  readonly seccompRoot: string;
  /** Values of downward-API fieldRefs, e.g. `{ 'spec.nodeName': 'node-1' }`. */
  readonly fieldRefs: Readonly<Record<string, string>>;
  /** Name of the container in the pod (default: the only one). */
  readonly container?: string;
}

export interface PodRun {
  /** Flags for `podman run` (before the image). */
  readonly flags: string[];
  readonly image: string;
  /** The container's command line after the image (its args). */
  readonly args: string[];
  /** Seconds `podman stop` waits before SIGKILL (terminationGracePeriodSeconds). */
  readonly stopTimeout: number;
}

const obj = (v: unknown, where: string): Obj => {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${where}: expected an object`);
  return v as Obj;
};
const list = (v: unknown, where: string): Obj[] => {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Error(`${where}: expected a list`);
  return v.map((x, i) => obj(x, `${where}[${i}]`));
};
const strings = (v: unknown, where: string): string[] => {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new Error(`${where}: expected a list of strings`);
  return v;
};

/** A scalar field as text (numbers and booleans as YAML writes them). */
const scalar = (v: unknown, where: string): string => {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new Error(`${where}: expected a scalar`);
};

function onlyKeys(o: Obj, where: string, known: readonly string[]): void {
  for (const k of Object.keys(o))
    if (!known.includes(k))
      throw new Error(`${where}.${k}: not translated to podman (known: ${known.join(', ')})`);
}

/** Kubernetes quantity → podman's memory size (bytes). */
export function memoryBytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) throw new Error(`memory quantity ${q}: not understood`);
  const mult: Record<string, number> = {
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Math.round(Number(m[1]) * (m[2] ? (mult[m[2]] ?? 1) : 1));
}

/** Kubernetes CPU quantity → cores. */
export function cpuCores(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(q);
  if (!m) throw new Error(`cpu quantity ${q}: not understood`);
  return Number(m[1]) / (m[2] ? 1000 : 1);
}

function securityFlags(sc: Obj, pod: Obj, seccompRoot: string, where: string): string[] {
  onlyKeys(sc, where, [
    'allowPrivilegeEscalation',
    'capabilities',
    'privileged',
    'readOnlyRootFilesystem',
    'runAsNonRoot',
    'runAsUser',
    'runAsGroup',
    'seccompProfile',
  ]);
  const flags: string[] = [];
  if (sc['privileged'] === true) flags.push('--privileged');
  const caps = obj(sc['capabilities'], `${where}.capabilities`);
  onlyKeys(caps, `${where}.capabilities`, ['add', 'drop']);
  for (const c of strings(caps['drop'], `${where}.capabilities.drop`)) flags.push('--cap-drop', c);
  for (const c of strings(caps['add'], `${where}.capabilities.add`)) flags.push('--cap-add', c);
  // A Kubernetes read-only root filesystem has no writable /tmp or /run: no podman tmpfs either.
  if (sc['readOnlyRootFilesystem'] === true) flags.push('--read-only', '--read-only-tmpfs=false');
  if (sc['allowPrivilegeEscalation'] === false) flags.push('--security-opt', 'no-new-privileges');
  const user = sc['runAsUser'] ?? pod['runAsUser'];
  const group = sc['runAsGroup'] ?? pod['runAsGroup'];
  if (user !== undefined)
    flags.push(
      '--user',
      group !== undefined ? `${scalar(user, where)}:${scalar(group, where)}` : scalar(user, where),
    );
  if ((sc['runAsNonRoot'] ?? pod['runAsNonRoot']) === true && (user === undefined || user === 0))
    throw new Error(
      `${where}.runAsNonRoot: true, but the user is root: the kubelet would refuse to start it`,
    );
  const seccomp = obj(sc['seccompProfile'] ?? pod['seccompProfile'], `${where}.seccompProfile`);
  switch (seccomp['type']) {
    case undefined:
    case 'RuntimeDefault':
      break;
    case 'Unconfined':
      flags.push('--security-opt', 'seccomp=unconfined');
      break;
    case 'Localhost': {
      const profile = join(seccompRoot, String(seccomp['localhostProfile']));
      if (!existsSync(profile))
        throw new Error(`${where}.seccompProfile: Localhost profile ${profile} does not exist`);
      flags.push('--security-opt', `seccomp=${profile}`);
      break;
    }
    default:
      throw new Error(`${where}.seccompProfile.type ${String(seccomp['type'])}: not translated`);
  }
  return flags;
}

function volumeFlags(spec: Obj, container: Obj, options: PodRunOptions, where: string): string[] {
  const volumes = new Map(list(spec['volumes'], 'spec.volumes').map((v) => [String(v['name']), v]));
  const flags: string[] = [];
  for (const [i, m] of list(container['volumeMounts'], `${where}.volumeMounts`).entries()) {
    const at = `${where}.volumeMounts[${i}]`;
    onlyKeys(m, at, ['name', 'mountPath', 'readOnly', 'mountPropagation']);
    if (m['mountPropagation'] !== undefined && m['mountPropagation'] !== 'None')
      throw new Error(`${at}.mountPropagation ${scalar(m['mountPropagation'], at)}: not translated`);
    const v = volumes.get(String(m['name']));
    if (!v) throw new Error(`${at}: no volume named ${String(m['name'])}`);
    const ro = m['readOnly'] === true ? ':ro' : '';
    const target = String(m['mountPath']);
    if (v['hostPath']) {
      const hp = obj(v['hostPath'], `volume ${String(v['name'])}.hostPath`);
      const path = String(hp['path']);
      if (hp['type'] === 'Directory' && !(existsSync(path) && statSync(path).isDirectory()))
        throw new Error(`volume ${String(v['name'])}: hostPath ${path} is not a directory on this host`);
      flags.push('--volume', `${path}:${target}${ro}`);
    } else if (v['configMap']) {
      const name = String(obj(v['configMap'], 'configMap')['name']);
      const dir = options.configMaps[name];
      if (!dir) throw new Error(`volume ${String(v['name'])}: no host directory given for ConfigMap ${name}`);
      // The kubelet mounts ConfigMaps read-only whatever the mount says.
      flags.push('--volume', `${dir}:${target}:ro`);
    } else if (v['emptyDir']) {
      flags.push('--tmpfs', target);
    } else {
      throw new Error(`volume ${String(v['name'])}: only hostPath, configMap and emptyDir are translated`);
    }
  }
  return flags;
}

function envFlags(container: Obj, options: PodRunOptions, where: string): string[] {
  const flags: string[] = [];
  for (const [i, e] of list(container['env'], `${where}.env`).entries()) {
    const name = String(e['name']);
    if (e['value'] !== undefined) {
      flags.push('--env', `${name}=${scalar(e['value'], `${where}.env[${i}]`)}`);
      continue;
    }
    const from = obj(e['valueFrom'], `${where}.env[${i}].valueFrom`);
    const path = obj(from['fieldRef'], `${where}.env[${i}].valueFrom.fieldRef`)['fieldPath'];
    const value = typeof path === 'string' ? options.fieldRefs[path] : undefined;
    if (value === undefined)
      throw new Error(
        `${where}.env[${i}] (${name}): only values and fieldRefs given in options are translated`,
      );
    flags.push('--env', `${name}=${value}`);
  }
  if (container['envFrom'] !== undefined) throw new Error(`${where}.envFrom: not translated`);
  return flags;
}

/** Pod fields translated into flags. */
const POD_RUN_KEYS = [
  'containers',
  'initContainers',
  'volumes',
  'hostPID',
  'hostIPC',
  'hostNetwork',
  'securityContext',
  'terminationGracePeriodSeconds',
];
/** Pod fields about where and with which identity it is scheduled: nothing to run on one host. */
const POD_SCHEDULING_KEYS = [
  'serviceAccountName',
  'automountServiceAccountToken',
  'nodeSelector',
  'affinity',
  'tolerations',
  'priorityClassName',
  'imagePullSecrets',
  'dnsPolicy',
];
/** Container fields translated into flags. */
const CONTAINER_RUN_KEYS = [
  'name',
  'command',
  'args',
  'env',
  'envFrom',
  'resources',
  'securityContext',
  'volumeMounts',
  'workingDir',
];
/**
 * Container fields the kubelet acts on from outside the container: the image is replaced by
 * the local one, ports are reachable on the host network, and probes are HTTP requests the
 * test itself makes (/healthz, /readyz).
 */
const CONTAINER_CLUSTER_KEYS = [
  'image',
  'imagePullPolicy',
  'ports',
  'livenessProbe',
  'readinessProbe',
  'startupProbe',
];

/** The pod template of a DaemonSet (or any workload object with spec.template) as a podman run. */
export function podRun(workload: Obj, options: PodRunOptions): PodRun {
  const spec = obj(
    obj(obj(workload['spec'], 'spec')['template'], 'spec.template')['spec'],
    'spec.template.spec',
  );
  const containers = list(spec['containers'], 'spec.containers');
  if (list(spec['initContainers'], 'spec.initContainers').length > 0)
    throw new Error('initContainers: not translated');
  const container = options.container
    ? containers.find((c) => c['name'] === options.container)
    : containers.length === 1
      ? containers[0]
      : undefined;
  if (!container)
    throw new Error(
      `spec.containers: expected one container${options.container ? ` named ${options.container}` : ''}`,
    );
  const where = `containers[${String(container['name'])}]`;
  onlyKeys(spec, 'spec.template.spec', [...POD_RUN_KEYS, ...POD_SCHEDULING_KEYS]);
  onlyKeys(container, where, [...CONTAINER_RUN_KEYS, ...CONTAINER_CLUSTER_KEYS]);
  const flags: string[] = [];

  if (spec['hostPID'] === true) flags.push('--pid', 'host');
  if (spec['hostIPC'] === true) flags.push('--ipc', 'host');
  if (spec['hostNetwork'] === true) flags.push('--network', 'host');
  const podSc = obj(spec['securityContext'], 'spec.securityContext');
  flags.push(
    ...securityFlags(
      obj(container['securityContext'], `${where}.securityContext`),
      podSc,
      options.seccompRoot,
      `${where}.securityContext`,
    ),
  );
  flags.push(...volumeFlags(spec, container, options, where));
  flags.push(...envFlags(container, options, where));

  const limits = obj(
    obj(container['resources'], `${where}.resources`)['limits'],
    `${where}.resources.limits`,
  );
  if (typeof limits['memory'] === 'string') flags.push('--memory', String(memoryBytes(limits['memory'])));
  if (typeof limits['cpu'] === 'string') flags.push('--cpus', String(cpuCores(limits['cpu'])));

  const command = strings(container['command'], `${where}.command`);
  if (command.length > 0) flags.push('--entrypoint', JSON.stringify(command));
  if (container['workingDir'] !== undefined)
    flags.push('--workdir', scalar(container['workingDir'], `${where}.workingDir`));
  const grace = spec['terminationGracePeriodSeconds'];
  const stopTimeout = typeof grace === 'number' ? grace : 30;
  flags.push('--stop-timeout', String(stopTimeout));
  return { flags, image: options.image, args: strings(container['args'], `${where}.args`), stopTimeout };
}

/** Capabilities the container's securityContext adds (upper case, without CAP_). */
export function addedCapabilities(workload: Obj): string[] {
  const spec = obj(
    obj(obj(workload['spec'], 'spec')['template'], 'spec.template')['spec'],
    'spec.template.spec',
  );
  const [container] = list(spec['containers'], 'spec.containers');
  const caps = obj(obj(container?.['securityContext'], 'securityContext')['capabilities'], 'capabilities');
  return strings(caps['add'], 'capabilities.add').map((c) => c.toUpperCase().replace(/^CAP_/, ''));
}
