import { lstatSync, readdirSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { readMountInfo } from './mountinfo.ts';

/**
 * The mount point of the cgroup2 hierarchy in mountinfo (the first cgroup2
 * mount), or undefined on a host with no cgroup2 mount.
 */
export function findCgroup2Mount(mountinfoPath = '/proc/self/mountinfo'): string | undefined {
  return readMountInfo(mountinfoPath).find((m) => m.fsType === 'cgroup2')?.mountPoint;
}

export interface CgroupTableOptions {
  /** Directory to watch: the cgroup2 mount point ("/sys/fs/cgroup/unified" on a hybrid host). */
  readonly root: string;
  /** How long a removed cgroup still resolves to its last path. */
  readonly deletedGraceMs: number;
  /**
   * An id a rewalk did not find is not rewalked for again within this; without
   * inotify the tree is also rewalked this often. A miss for any other id
   * rewalks at most once per `missRewalkGapMs`, never less often than this.
   */
  readonly rescanIntervalMs: number;
  /** Most inotify watches (one per directory); past it, new directories are found by rescans only. */
  readonly maxWatches: number;
  /** Most removed cgroups kept for the grace period (the oldest go first). */
  readonly maxDeleted: number;
  /** false: never use inotify, rescan periodically (tests, hosts without inotify). Default true. */
  readonly watch?: boolean;
  readonly now?: () => number;
  /** This thread's CPU time in ms (what a walk costs); default `process.threadCpuUsage()`. */
  readonly cpuNow?: () => number;
  /** Called once per problem that degrades the table (watch limit reached, inotify unavailable). */
  readonly onWarning?: (message: string) => void;
}

export type CgroupTableMode = 'inotify' | 'rescan' | 'stopped';

/**
 * Miss rewalks spend at most 1/MISS_REWALK_COST_FACTOR of a CPU: after a walk that took c ms of
 * CPU, the next miss rewalk waits c × this (at least MISS_REWALK_MIN_GAP_MS). A fixed gap (1 s
 * until 2026-12-08) let a read within a second of the last walk answer unknown for a cgroup made
 * since, whose inotify event was still queued behind the read (churn-bpf, under load).
 */
export const MISS_REWALK_COST_FACTOR = 20;
/** The least time between two miss rewalks (one walk serves a whole read). */
export const MISS_REWALK_MIN_GAP_MS = 50;

const threadCpuMs = (): number => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1_000;
};

/**
 * A cgroup that appeared (or was renamed: `path` is its new path), or that is gone (`path`
 * undefined); `expired`: a removed cgroup whose grace ran out (or that the `maxDeleted` bound
 * dropped), so `resolve` no longer answers its last path.
 */
export interface CgroupChange {
  readonly id: bigint;
  readonly path: string | undefined;
  readonly expired?: true;
}

/** The settings every user of a shared table gets unless it asks for others (the `cgroup` processor's defaults). */
export const CGROUP_TABLE_DEFAULTS = {
  deletedGraceMs: 300_000,
  rescanIntervalMs: 5_000,
  maxWatches: 16_384,
  maxDeleted: 65_536,
} as const;

interface Deleted {
  readonly path: string;
  readonly until: number;
}

/**
 * cgroup v2 id → cgroupfs path, kept current as cgroups come and go.
 *
 * A cgroup id (`bpf_get_current_cgroup_id()`, `cgrp->kn->id`) is the inode
 * number of its directory in cgroupfs. The table walks the cgroup2 hierarchy
 * once at start and then follows it with one non-recursive inotify watch per
 * directory (Node's recursive `fs.watch` on Linux also watches every control
 * file and misses removals on cgroupfs, so it is not used). When watches run
 * out or inotify is unavailable, it rewalks every `rescanIntervalMs` instead.
 *
 * - A live entry is returned only while its directory still has that inode,
 *   so a path whose cgroup was replaced never answers for the old id, and an
 *   id is never answered with another cgroup's path.
 * - A removed cgroup resolves to its last path for `deletedGraceMs` (late
 *   scrapes of metrics recorded before removal), unless the id shows up live
 *   again (kernfs inode reuse), in which case the live path wins.
 * - A miss rewalks the tree at once, so a cgroup whose BPF event is decoded
 *   before its inotify event is handled still resolves (a process can enter a
 *   new cgroup and be counted before the table's event loop turn). Bounds: miss
 *   rewalks take at most 1/MISS_REWALK_COST_FACTOR of a CPU (`missRewalkGapMs`); an id
 *   that a rewalk begun after its miss did not find (removed before we saw it,
 *   or not a cgroup of this hierarchy) is remembered as unknown for
 *   `rescanIntervalMs` and rechecked after; at most `maxDeleted` of them.
 */
export class CgroupTable {
  readonly root: string;
  private readonly opts: CgroupTableOptions;
  private readonly now: () => number;
  private readonly live = new Map<bigint, string>();
  private readonly byPath = new Map<string, bigint>();
  /** Insertion order is removal order, so expiry and the bound drop from the front. */
  private readonly deleted = new Map<bigint, Deleted>();
  private readonly watchers = new Map<string, FSWatcher>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastScan = -Infinity;
  /** CPU time of the last walk, ms. */
  private lastWalkCpuMs = 0;
  private readonly cpuNow: () => number;
  /** Ids a rewalk did not find: id → until when their misses skip the rewalk. Insertion order = expiry order. */
  private readonly unknown = new Map<bigint, number>();
  private warnedWatchLimit = false;
  private _mode: CgroupTableMode = 'stopped';
  private readonly listeners = new Set<(change: CgroupChange) => void>();
  /** Full walks so far (start, misses, periodic). */
  scans = 0;
  /** Directory events handled. */
  events = 0;

  constructor(options: CgroupTableOptions) {
    for (const k of ['deletedGraceMs', 'rescanIntervalMs', 'maxWatches', 'maxDeleted'] as const) {
      if (!(options[k] >= 0)) throw new RangeError(`${k} must be at least 0, got ${options[k]}`);
    }
    this.root = options.root;
    this.opts = options;
    this.now = options.now ?? Date.now;
    this.cpuNow = options.cpuNow ?? threadCpuMs;
  }

  get mode(): CgroupTableMode {
    return this._mode;
  }

  get size(): { live: number; deleted: number; unknown: number; watches: number } {
    return {
      live: this.live.size,
      deleted: this.deleted.size,
      unknown: this.unknown.size,
      watches: this.watchers.size,
    };
  }

  /** Walk the tree and start following it. Throws when the root cannot be read. */
  start(): void {
    if (this._mode !== 'stopped') return;
    lstatSync(this.root); // a missing root is the caller's error, not an empty table
    this._mode = this.opts.watch === false ? 'rescan' : 'inotify';
    this.rescan();
    if (this._mode === 'inotify' && !this.watchers.has(this.root)) {
      this._mode = 'rescan';
      this.opts.onWarning?.(`cannot watch ${this.root} with inotify; rewalking the tree periodically`);
    }
    const period = Math.max(1_000, this.opts.rescanIntervalMs);
    this.timer = setInterval(() => this.tick(), Math.min(period, 60_000));
    this.timer.unref();
  }

  stop(): void {
    this.listeners.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.live.clear();
    this.byPath.clear();
    this.deleted.clear();
    this.unknown.clear();
    this._mode = 'stopped';
  }

  /** Whether `id` is a live cgroup as of the table's last event or walk (no rewalk, no inode check). */
  isLive(id: bigint): boolean {
    return this.live.has(id);
  }

  /**
   * Whether `id` has a path in the table now: live, or removed within the grace (no rewalk). An
   * id it never had (a cgroup created and removed between its events and walks) has none.
   */
  knows(id: bigint): boolean {
    if (this.live.has(id)) return true;
    const gone = this.deleted.get(id);
    return gone !== undefined && gone.until > this.now();
  }

  /**
   * How long after the last walk a miss waits before it rewalks: MISS_REWALK_COST_FACTOR × that
   * walk's CPU time, at least MISS_REWALK_MIN_GAP_MS, at most `rescanIntervalMs`.
   */
  get missRewalkGapMs(): number {
    const byCost = Math.max(MISS_REWALK_MIN_GAP_MS, MISS_REWALK_COST_FACTOR * this.lastWalkCpuMs);
    return Math.min(this.opts.rescanIntervalMs, byCost);
  }

  /** Date.now() (or the `now` option) of the last full walk. */
  get lastScanMs(): number {
    return this.lastScan;
  }

  /** Every live cgroup now: id → path. */
  liveEntries(): IterableIterator<[bigint, string]> {
    return this.live.entries();
  }

  /**
   * Follow cgroups as the table learns of them (inotify events, rewalks, and lookups that find an
   * entry stale): called with each new or renamed cgroup, each removed one, and each removed one
   * whose grace is over (`expired`): every change of what `resolve` answers for a known id.
   * (An id `resolve` did not know starts answering only through a new cgroup.) A listener that
   * throws does not stop the others. Returns the unsubscribe.
   */
  onChange(listener: (change: CgroupChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(change: CgroupChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (err) {
        this.opts.onWarning?.(`cgroup change listener failed: ${(err as Error).message}`);
      }
    }
  }

  /** The path of cgroup `id`: live, or removed within the grace period; undefined when unknown. */
  resolve(id: bigint): string | undefined {
    const t = this.now();
    const path = this.live.get(id);
    if (path !== undefined) {
      if (inodeOf(path) === id) return path;
      // Removed (its event not handled yet), replaced at that path by a new cgroup, or moved:
      // look for it live first, so a moved id does not answer with its old path.
      this.remove(path, t);
      const now = this.lookForMissing(id, t);
      if (now !== undefined) return now;
    }
    const gone = this.deleted.get(id);
    if (gone !== undefined) {
      if (gone.until > t) return gone.path;
      this.expireOne(id);
    }
    return this.lookForMissing(id, t);
  }

  /**
   * `id` is not live in the table: rewalk for it unless it is remembered as
   * unknown or a rewalk ran less than the gap ago. When the rewalk does not
   * find it, remember it as unknown for `rescanIntervalMs`.
   */
  private lookForMissing(id: bigint, t: number): string | undefined {
    if (this._mode === 'stopped') return undefined;
    const until = this.unknown.get(id);
    if (until !== undefined) {
      if (until > t) return undefined;
      this.unknown.delete(id);
    }
    if (t - this.lastScan < this.missRewalkGapMs) return undefined; // not remembered: the next read looks again
    this.rescan();
    const path = this.live.get(id);
    if (path !== undefined) return path;
    this.unknown.set(id, t + this.opts.rescanIntervalMs);
    while (this.unknown.size > this.opts.maxDeleted) {
      this.unknown.delete(this.unknown.keys().next().value as bigint);
    }
    return undefined;
  }

  /** Walk the whole tree now and reconcile: new directories added, vanished ones moved to `deleted`. */
  rescan(): void {
    const t = this.now();
    const cpu0 = this.cpuNow();
    this.lastScan = t;
    this.scans++;
    const found = new Map<string, bigint>();
    const stack = [this.root];
    while (stack.length > 0) {
      const dir = stack.pop() as string;
      const ino = inodeOf(dir);
      if (ino === undefined) continue;
      found.set(dir, ino);
      for (const name of subdirs(dir)) stack.push(join(dir, name));
    }
    for (const [path, id] of this.byPath) {
      if (found.get(path) !== id) this.forget(path, id, t);
    }
    for (const [path, id] of found) this.add(path, id);
    for (const [path, w] of this.watchers) {
      if (!found.has(path)) {
        w.close();
        this.watchers.delete(path);
      }
    }
    this.expire(t);
    this.lastWalkCpuMs = this.cpuNow() - cpu0;
  }

  private tick(): void {
    const t = this.now();
    this.expire(t);
    if (this._mode === 'rescan' || this.watchers.size < this.byPath.size) {
      if (t - this.lastScan >= this.opts.rescanIntervalMs) this.rescan();
    }
  }

  private add(path: string, id: bigint): void {
    const old = this.byPath.get(path);
    if (old !== undefined && old !== id) this.forget(path, old, this.now());
    const oldPath = this.live.get(id);
    if (oldPath !== undefined && oldPath !== path) this.byPath.delete(oldPath); // renamed
    this.live.set(id, path);
    this.byPath.set(path, id);
    this.deleted.delete(id); // reused id: the live path wins
    this.unknown.delete(id);
    if (this._mode === 'inotify') this.watchDir(path);
    if (oldPath !== path && this.listeners.size > 0) this.emit({ id, path });
  }

  /** `path` (and everything below it) is gone as of `t`. */
  private remove(path: string, t: number): void {
    const prefix = path + '/';
    for (const [p, id] of this.byPath) if (p === path || p.startsWith(prefix)) this.forget(p, id, t);
    for (const [p, w] of this.watchers) {
      if (p === path || p.startsWith(prefix)) {
        w.close();
        this.watchers.delete(p);
      }
    }
  }

  private forget(path: string, id: bigint, t: number): void {
    this.byPath.delete(path);
    if (this.live.get(id) !== path) return;
    this.live.delete(id);
    if (this.listeners.size > 0) this.emit({ id, path: undefined });
    this.deleted.delete(id);
    this.deleted.set(id, { path, until: t + this.opts.deletedGraceMs });
    while (this.deleted.size > this.opts.maxDeleted) {
      this.expireOne(this.deleted.keys().next().value as bigint);
    }
  }

  /** A removed cgroup no longer resolves: forgotten and told. */
  private expireOne(id: bigint): void {
    this.deleted.delete(id);
    if (this.listeners.size > 0) this.emit({ id, path: undefined, expired: true });
  }

  private expire(t: number): void {
    for (const [id, d] of this.deleted) {
      if (d.until > t) break; // removal order: the rest are younger
      this.expireOne(id);
    }
    for (const [id, until] of this.unknown) {
      if (until > t) break; // insertion order: the rest expire later
      this.unknown.delete(id);
    }
  }

  private watchDir(dir: string): void {
    if (this.watchers.has(dir)) return;
    if (this.watchers.size >= this.opts.maxWatches) {
      if (!this.warnedWatchLimit) {
        this.warnedWatchLimit = true;
        this.opts.onWarning?.(
          `more than ${this.opts.maxWatches} cgroups: directories past the watch limit are found by rescans`,
        );
      }
      return;
    }
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: false }, (type, name) => this.onEvent(dir, type, name));
    } catch (err) {
      // Removed meanwhile (ENOENT), or out of inotify watches (ENOSPC: fs.inotify.max_user_watches):
      // the periodic rescan covers directories without a watch.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && !this.warnedWatchLimit) {
        this.warnedWatchLimit = true;
        this.opts.onWarning?.(`watch ${dir}: ${code ?? String(err)}; unwatched cgroups are found by rescans`);
      }
      return;
    }
    w.on('error', () => {
      w.close();
      if (this.watchers.get(dir) === w) this.watchers.delete(dir);
    });
    this.watchers.set(dir, w);
  }

  /** A child of `dir` was created, removed or renamed (`rename`); file changes (`change`) are ignored. */
  private onEvent(dir: string, type: string, name: string | Buffer | null): void {
    if (this._mode !== 'inotify' || type !== 'rename') return;
    this.events++;
    if (name === null) {
      this.rescan(); // queue overflow: the events are lost
      return;
    }
    const path = join(dir, name.toString());
    const ino = dirInodeOf(path);
    if (ino === undefined) {
      if (this.byPath.has(path)) this.remove(path, this.now());
      return;
    }
    if (this.byPath.get(path) === ino) return;
    // New (or replaced) directory: take it and anything created below it before its watch existed.
    const stack = [path];
    while (stack.length > 0) {
      const d = stack.pop() as string;
      const id = d === path ? ino : dirInodeOf(d);
      if (id === undefined) continue;
      this.add(d, id);
      for (const n of subdirs(d)) stack.push(join(d, n));
    }
  }
}

/**
 * Several tables asked in order; the first that knows an id answers. Ids are
 * per hierarchy (each is its own kernfs with its own inode numbers), so the
 * same id can name a cgroup in each: put the cgroup2 table first so that it
 * wins, as in ebpf_exporter's walker. A cgroup2 table answers for its removed
 * cgroups during their grace before any later table is asked.
 */
export class OrderedCgroupTables {
  readonly tables: readonly Pick<CgroupTable, 'resolve'>[];

  constructor(tables: readonly Pick<CgroupTable, 'resolve'>[]) {
    this.tables = tables;
  }

  resolve(id: bigint): string | undefined {
    for (const t of this.tables) {
      const path = t.resolve(id);
      if (path !== undefined) return path;
    }
    return undefined;
  }
}

function inodeOf(path: string): bigint | undefined {
  try {
    return lstatSync(path, { bigint: true }).ino;
  } catch {
    return undefined;
  }
}

function dirInodeOf(path: string): bigint | undefined {
  try {
    const st = lstatSync(path, { bigint: true });
    return st.isDirectory() ? st.ino : undefined;
  } catch {
    return undefined;
  }
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}
