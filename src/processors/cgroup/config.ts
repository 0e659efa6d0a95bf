import { z } from 'zod';
import { duration } from '../../config/types.ts';
import { CGROUP_TABLE_DEFAULTS as D } from '../../kernel/cgroup-table.ts';

export const configSchema = z.strictObject({
  /** cgroup2 mount point to follow; default: the cgroup2 mount in /proc/self/mountinfo. */
  cgroup_root: z.string().min(1).optional(),
  /**
   * Hierarchies to follow, asked in this order for each id: `unified` (the
   * cgroup2 mount, or `cgroup_root`) and/or v1 controller names (`pids`, `cpu`,
   * `memory`, `name=systemd`: the v1 hierarchy with that controller). Default
   * cgroup2 only: v1 ids are inode numbers of separate filesystems and collide
   * with cgroup2 ids, so an id only BPF's v2 helpers produce could otherwise
   * decode as an unrelated v1 path. List `unified` first so cgroup2 wins.
   */
  hierarchies: z
    .array(z.string().regex(/^[a-z0-9_=]+$/, 'expected "unified" or a cgroup v1 controller name'))
    .min(1)
    .refine((a) => new Set(a).size === a.length, 'hierarchies must not repeat')
    .default(['unified']),
  /** How long a removed cgroup still resolves to its last path (late scrapes). */
  deleted_grace: duration().default(D.deletedGraceMs),
  /** How long an id a rewalk did not find stays unknown before a miss looks again (and the rewalk period without inotify). */
  rescan_interval: duration().default(D.rescanIntervalMs),
  /** Most inotify watches (one per cgroup directory); past it, new cgroups are found by rewalks. */
  max_watches: z.number().int().min(0).max(1_000_000).default(D.maxWatches),
  /** Most removed cgroups remembered for `deleted_grace`. */
  max_deleted: z.number().int().min(0).max(10_000_000).default(D.maxDeleted),
  /** false: do not use inotify; rewalk every `rescan_interval` instead. */
  watch: z.boolean().default(true),
});

export type CgroupProcessorConfig = z.infer<typeof configSchema>;
