/** The parts of a v1.Pod this processor reads. */
export interface Pod {
  readonly metadata?: {
    readonly uid?: string;
    readonly name?: string;
    readonly namespace?: string;
    readonly resourceVersion?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly spec?: { readonly nodeName?: string };
  readonly status?: {
    readonly containerStatuses?: readonly ContainerStatus[];
    readonly initContainerStatuses?: readonly ContainerStatus[];
    readonly ephemeralContainerStatuses?: readonly ContainerStatus[];
  };
}

interface ContainerStatus {
  readonly name?: string;
  readonly containerID?: string;
  readonly lastState?: { readonly terminated?: { readonly containerID?: string } };
}

export interface ExtractRule {
  readonly key: string;
  readonly tag_name: string;
}

export interface ExtractConfig {
  readonly labels: readonly ExtractRule[];
  readonly annotations: readonly ExtractRule[];
}

/** What a point gets: pod labels (always) and the container name (when its container id is known). */
export interface PodMatch {
  readonly pod: readonly (readonly [string, string])[];
  readonly containerName?: string | undefined;
}

interface Entry {
  readonly uid: string;
  /** Labels every point of the pod gets, in output order. */
  readonly labels: readonly (readonly [string, string])[];
  readonly containerIds: readonly string[];
  /** Set when the pod was deleted: it still matches until then. */
  expiresMs?: number;
}

const MAX_FORGOTTEN = 16_384;

/** `containerd://abc…` → `abc…`; ids compare in lower case. */
export function normalizeContainerId(id: string): string {
  const at = id.indexOf('://');
  return (at >= 0 ? id.slice(at + 3) : id).toLowerCase();
}

/** Pod uids as a cgroup path spells them (`_` for `-`) compare equal to the API's. */
export function normalizeUid(uid: string): string {
  return uid.replaceAll('_', '-').toLowerCase();
}

/**
 * The pods of this node by uid and by container id (current and last
 * terminated container of every status), with deleted pods kept for a grace
 * period. Listeners hear of every pod added or changed.
 */
export class PodIndex {
  private readonly byUid = new Map<string, Entry>();
  private readonly byContainer = new Map<string, { uid: string; name: string }>();
  /** Uids and container ids of pods deleted and past their grace period (oldest first, bounded). */
  private readonly forgotten = new Map<string, true>();
  private readonly extract: ExtractConfig;
  private readonly graceMs: number;
  private readonly now: () => number;

  constructor(extract: ExtractConfig, graceMs: number, now: () => number = Date.now) {
    this.extract = extract;
    this.graceMs = graceMs;
    this.now = now;
  }

  /** Pods known, deleted ones in their grace period included. */
  get size(): number {
    return this.byUid.size;
  }

  /** A full list: pods not in it are deleted (grace period starts). */
  replace(pods: readonly Pod[]): void {
    const seen = new Set<string>();
    for (const pod of pods) {
      const uid = this.upsert(pod);
      if (uid !== undefined) seen.add(uid);
    }
    for (const [uid, e] of this.byUid) if (!seen.has(uid) && e.expiresMs === undefined) this.markDeleted(e);
  }

  /** ADDED or MODIFIED; returns the pod's normalized uid (undefined for a pod without one). */
  upsert(pod: Pod): string | undefined {
    const rawUid = pod.metadata?.uid;
    if (!rawUid) return undefined;
    const uid = normalizeUid(rawUid);
    this.forgotten.delete(uid);
    const old = this.byUid.get(uid);
    if (old) this.unlinkContainers(old);
    const labels: [string, string][] = [];
    const add = (name: string, value: string | undefined) => {
      if (value !== undefined && value !== '') labels.push([name, value]);
    };
    add('k8s_pod_name', pod.metadata?.name);
    add('k8s_namespace_name', pod.metadata?.namespace);
    add('k8s_node_name', pod.spec?.nodeName);
    for (const r of this.extract.labels) add(r.tag_name, pod.metadata?.labels?.[r.key]);
    for (const r of this.extract.annotations) add(r.tag_name, pod.metadata?.annotations?.[r.key]);
    const containerIds: string[] = [];
    const statuses = [
      ...(pod.status?.containerStatuses ?? []),
      ...(pod.status?.initContainerStatuses ?? []),
      ...(pod.status?.ephemeralContainerStatuses ?? []),
    ];
    for (const s of statuses) {
      for (const raw of [s.containerID, s.lastState?.terminated?.containerID]) {
        if (!raw || !s.name) continue;
        const id = normalizeContainerId(raw);
        if (id === '') continue;
        containerIds.push(id);
        this.byContainer.set(id, { uid, name: s.name });
      }
    }
    this.byUid.set(uid, { uid, labels, containerIds });
    return uid;
  }

  /** DELETED: the pod keeps matching for the grace period. */
  remove(pod: Pod): void {
    const rawUid = pod.metadata?.uid;
    const e = rawUid ? this.byUid.get(normalizeUid(rawUid)) : undefined;
    if (e) this.markDeleted(e);
  }

  /** The pod of a point, by uid first, then by container id. Drops expired deleted pods. */
  find(uid: string | undefined, containerId: string | undefined): PodMatch | undefined {
    const now = this.now();
    const c = containerId ? this.byContainer.get(normalizeContainerId(containerId)) : undefined;
    const e = (uid !== undefined ? this.live(normalizeUid(uid), now) : undefined) ?? this.live(c?.uid, now);
    if (!e) return undefined;
    return { pod: e.labels, containerName: c && c.uid === e.uid ? c.name : undefined };
  }

  /**
   * True for a pod deleted and forgotten (past its grace period): its data is
   * late, not early, and is not worth waiting for.
   */
  isForgotten(uid: string | undefined, containerId: string | undefined): boolean {
    return (
      (uid !== undefined && this.forgotten.has(normalizeUid(uid))) ||
      (containerId !== undefined && this.forgotten.has(normalizeContainerId(containerId)))
    );
  }

  /** Forget deleted pods past their grace period. */
  sweep(): void {
    const now = this.now();
    for (const e of this.byUid.values()) this.live(e.uid, now);
  }

  private live(uid: string | undefined, now: number): Entry | undefined {
    if (uid === undefined) return undefined;
    const e = this.byUid.get(uid);
    if (e?.expiresMs !== undefined && e.expiresMs <= now) {
      this.byUid.delete(uid);
      this.unlinkContainers(e);
      for (const key of [uid, ...e.containerIds]) this.forgotten.set(key, true);
      while (this.forgotten.size > MAX_FORGOTTEN)
        this.forgotten.delete(this.forgotten.keys().next().value as string);
      return undefined;
    }
    return e;
  }

  private markDeleted(e: Entry): void {
    e.expiresMs = this.now() + this.graceMs;
  }

  private unlinkContainers(e: Entry): void {
    for (const id of e.containerIds) if (this.byContainer.get(id)?.uid === e.uid) this.byContainer.delete(id);
  }
}
