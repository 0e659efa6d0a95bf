import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readMountInfo, type MountInfo } from './mountinfo.ts';

/** One mounted cgroup hierarchy. */
export interface CgroupHierarchy {
  readonly version: 1 | 2;
  readonly mountPoint: string;
  /** v1 controllers of the hierarchy ("cpu", "memory", "name=systemd"); empty for v2. */
  readonly controllers: readonly string[];
}

/**
 * The cgroup hierarchies in mountinfo: cgroup2 first, then v1 controller
 * hierarchies, each hierarchy once (the first mount of its device wins, so
 * bind mounts of the same hierarchy do not produce duplicate paths).
 */
export function findCgroupHierarchies(mounts: readonly MountInfo[]): CgroupHierarchy[] {
  const seen = new Set<string>();
  const v2: CgroupHierarchy[] = [];
  const v1: CgroupHierarchy[] = [];
  for (const m of mounts) {
    if (m.fsType !== 'cgroup2' && m.fsType !== 'cgroup') continue;
    const dev = `${m.major}:${m.minor}`;
    if (seen.has(dev)) continue;
    seen.add(dev);
    if (m.fsType === 'cgroup2') v2.push({ version: 2, mountPoint: m.mountPoint, controllers: [] });
    else {
      const generic = new Set([
        'rw',
        'ro',
        'relatime',
        'noatime',
        'nosuid',
        'nodev',
        'noexec',
        'xattr',
        'clone_children',
        'noprefix',
        'cpuset_v2_mode',
      ]);
      const controllers = m.superOptions.filter((o) => !generic.has(o) && !o.startsWith('release_agent='));
      v1.push({ version: 1, mountPoint: m.mountPoint, controllers });
    }
  }
  return [...v2, ...v1];
}

/**
 * The mount point of the v1 hierarchy that has `controller` ("pids", "cpu",
 * "name=systemd"; "cpuacct" finds a "cpu,cpuacct" hierarchy), or undefined.
 */
export function findCgroupV1Mount(controller: string, mounts: readonly MountInfo[]): string | undefined {
  return findCgroupHierarchies(mounts).find((h) => h.version === 1 && h.controllers.includes(controller))
    ?.mountPoint;
}

export interface CgroupsOptions {
  /** Hierarchies to walk; default: found in `mountinfoPath` (default /proc/self/mountinfo). */
  readonly hierarchies?: readonly CgroupHierarchy[];
  readonly mountinfoPath?: string;
  /** Most cached id → path entries (least recently used go first). Default 65 536. */
  readonly maxEntries?: number;
  /** A miss rewalks the hierarchies at most this often. Default 5 s. */
  readonly rescanIntervalMs?: number;
  readonly now?: () => number;
}

/**
 * cgroup id → cgroupfs path ("/sys/fs/cgroup/unified/system.slice/x.service").
 *
 * A cgroup id is the inode number of its directory in cgroupfs (kernfs), so
 * the map is built by walking every hierarchy and stat-ing each directory.
 * When two hierarchies have a directory with the same inode number (ids are
 * per hierarchy), cgroup2 wins: `bpf_get_current_cgroup_id()` returns v2 ids.
 *
 * Lookups are cached in an LRU of `maxEntries`. A cached path is returned only
 * while its directory still has that inode, so a removed cgroup (or a new one
 * at the same path) never yields a stale path. A miss rewalks, at most once per
 * `rescanIntervalMs`; misses are not cached.
 */
export class Cgroups {
  private readonly explicit: readonly CgroupHierarchy[] | undefined;
  private readonly mountinfoPath: string;
  private readonly maxEntries: number;
  private readonly rescanIntervalMs: number;
  private readonly now: () => number;
  /** Insertion order is recency order: a hit is deleted and re-set. */
  private readonly cache = new Map<bigint, string>();
  private lastScan = -Infinity;
  /** Full walks so far. */
  scans = 0;

  constructor(options: CgroupsOptions = {}) {
    this.explicit = options.hierarchies;
    this.mountinfoPath = options.mountinfoPath ?? '/proc/self/mountinfo';
    this.maxEntries = options.maxEntries ?? 65_536;
    if (!(this.maxEntries >= 1))
      throw new RangeError(`maxEntries must be at least 1, got ${this.maxEntries}`);
    this.rescanIntervalMs = options.rescanIntervalMs ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  /** The hierarchies walked, re-read from mountinfo on every walk unless given. */
  hierarchies(): readonly CgroupHierarchy[] {
    return this.explicit ?? findCgroupHierarchies(readMountInfo(this.mountinfoPath));
  }

  get size(): number {
    return this.cache.size;
  }

  /** The path of cgroup `id`, or undefined when no hierarchy has it (now). */
  resolve(id: bigint): string | undefined {
    const cached = this.cache.get(id);
    if (cached !== undefined) {
      this.cache.delete(id);
      if (inodeOf(cached) === id) {
        this.cache.set(id, cached);
        return cached;
      }
      // Removed, or replaced by a new cgroup at the same path: drop it and look again.
    }
    const t = this.now();
    if (t - this.lastScan < this.rescanIntervalMs) return undefined;
    this.lastScan = t;
    return this.rescan(id);
  }

  /** Walk every hierarchy now; returns the path of `want` if found. */
  rescan(want?: bigint): string | undefined {
    this.scans++;
    const found = new Map<bigint, string>();
    // v1 first so that cgroup2 entries (walked last) replace colliding ones.
    for (const h of [...this.hierarchies()].reverse()) walk(h.mountPoint, found);
    for (const [id, path] of found) this.put(id, path);
    if (want === undefined) return undefined;
    const path = found.get(want);
    if (path !== undefined) this.put(want, path); // most recent, so the bound cannot evict it first
    return path;
  }

  private put(id: bigint, path: string): void {
    this.cache.delete(id);
    this.cache.set(id, path);
    while (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value as bigint;
      this.cache.delete(oldest);
    }
  }
}

function inodeOf(path: string): bigint | undefined {
  try {
    return statSync(path, { bigint: true }).ino;
  } catch {
    return undefined;
  }
}

/** Every directory under `root` (itself included, symlinks not followed) by inode. */
function walk(root: string, into: Map<bigint, string>): void {
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop() as string;
    const ino = inodeOf(dir);
    if (ino === undefined) continue; // removed while walking
    into.set(ino, dir);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) if (e.isDirectory()) stack.push(join(dir, e.name));
  }
}
