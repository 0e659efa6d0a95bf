/**
 * Container and pod identity from a cgroup path, as kubelet, container
 * runtimes and docker/podman name their cgroups:
 *
 *   systemd driver   …/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid, _ for ->.slice/cri-containerd-<id>.scope
 *                    …/kubepods.slice/kubepods-pod<uid>.slice/crio-<id>.scope          (guaranteed)
 *                    …/system.slice/docker-<id>.scope, …/machine.slice/libpod-<id>.scope
 *   cgroupfs driver  …/kubepods/burstable/pod<uid>/<id>, …/kubepods/pod<uid>/<id>     (guaranteed)
 *                    …/docker/<id>, …/libpod_parent/libpod-<id>
 *
 * The path may carry any prefix (mount point, nesting). Cgroups below a
 * container's (a systemd inside it) belong to that container; the deepest
 * container segment wins. Conmon cgroups (`crio-conmon-<id>`,
 * `libpod-conmon-<id>`) are not containers.
 */

export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker' | 'podman';
export type PodQos = 'guaranteed' | 'burstable' | 'besteffort';

export interface ContainerIdentity {
  readonly containerId?: string;
  /** Absent for a cgroupfs-driver kubelet container (`pod<uid>/<id>`): the path does not say. */
  readonly containerRuntime?: ContainerRuntime;
  /** With dashes, lower case. */
  readonly podUid?: string;
  readonly podQos?: PodQos;
}

const ID = '[0-9a-f]{64}';
const PREFIXED = new RegExp(`^(cri-containerd|crio|docker|libpod)-(${ID})(?:\\.scope)?$`);
const BARE = new RegExp(`^${ID}$`);
const RUNTIME_OF_PREFIX: Readonly<Record<string, ContainerRuntime>> = {
  'cri-containerd': 'containerd',
  crio: 'cri-o',
  docker: 'docker',
  libpod: 'podman',
};
/** A pod uid as written in a cgroup name: uuid with `-` or `_`, or a 32-hex static-pod hash. */
const UID = '[0-9a-fA-F]{8}[-_]?[0-9a-fA-F]{4}[-_]?[0-9a-fA-F]{4}[-_]?[0-9a-fA-F]{4}[-_]?[0-9a-fA-F]{12}';
const SYSTEMD_POD = new RegExp(`^kubepods(?:-(burstable|besteffort))?-pod(${UID})\\.slice$`);
const CGROUPFS_POD = new RegExp(`^pod(${UID})$`);

/** The identity in `path`, or undefined when it names no container or pod. */
export function parseContainerCgroup(path: string): ContainerIdentity | undefined {
  const segs = path.split('/');
  let containerAt = -1;
  let containerId: string | undefined;
  let runtime: ContainerRuntime | undefined;
  let podAt = -1;
  let podUid: string | undefined;
  let podQos: PodQos | undefined;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i] as string;
    const prefixed = PREFIXED.exec(s);
    if (prefixed) {
      containerAt = i;
      containerId = prefixed[2];
      runtime = RUNTIME_OF_PREFIX[prefixed[1] as string];
      continue;
    }
    const sd = SYSTEMD_POD.exec(s);
    if (sd) {
      podAt = i;
      podUid = normaliseUid(sd[2] as string);
      podQos = (sd[1] as PodQos | undefined) ?? 'guaranteed';
      continue;
    }
    const fs = CGROUPFS_POD.exec(s);
    if (fs && i > 0) {
      // kubepods/pod<uid> (guaranteed) or kubepods/<qos>/pod<uid>
      const parent = segs[i - 1] as string;
      const grand = i > 1 ? (segs[i - 2] as string) : '';
      let qos: PodQos | undefined;
      if (parent === 'kubepods') qos = 'guaranteed';
      else if ((parent === 'burstable' || parent === 'besteffort') && grand === 'kubepods') qos = parent;
      if (qos !== undefined) {
        podAt = i;
        podUid = normaliseUid(fs[1] as string);
        podQos = qos;
      }
      continue;
    }
    if (BARE.test(s) && i > 0) {
      // cgroupfs driver: a bare id right below a pod, or below /docker
      if (podAt === i - 1) {
        containerAt = i;
        containerId = s;
        runtime = undefined;
      } else if (segs[i - 1] === 'docker') {
        containerAt = i;
        containerId = s;
        runtime = 'docker';
      }
    }
  }
  // A pod below the container (nested kubelet in a container) is the pod; a container above the pod is not its.
  if (containerAt >= 0 && podAt > containerAt) {
    containerId = undefined;
    runtime = undefined;
  }
  if (containerId === undefined && podUid === undefined) return undefined;
  const out: {
    containerId?: string;
    containerRuntime?: ContainerRuntime;
    podUid?: string;
    podQos?: PodQos;
  } = {};
  if (containerId !== undefined) out.containerId = containerId;
  if (runtime !== undefined) out.containerRuntime = runtime;
  if (podUid !== undefined) out.podUid = podUid;
  if (podQos !== undefined) out.podQos = podQos;
  return out;
}

/** `_` (systemd escapes `-` in unit names) → `-`, lower case. */
function normaliseUid(raw: string): string {
  return raw.replaceAll('_', '-').toLowerCase();
}
