import { z } from 'zod';
import { duration } from '../../config/types.ts';

export const configSchema = z.strictObject({
  /** cgroup2 mount point to follow; default: the cgroup2 mount in /proc/self/mountinfo. */
  cgroup_root: z.string().min(1).optional(),
  /** How long a removed cgroup still resolves to its last path (late scrapes). */
  deleted_grace: duration().default(300_000),
  /** Minimum time between rewalks of the tree on a miss (and the rewalk period without inotify). */
  rescan_interval: duration().default(5_000),
  /** Most inotify watches (one per cgroup directory); past it, new cgroups are found by rewalks. */
  max_watches: z.number().int().min(0).max(1_000_000).default(16_384),
  /** Most removed cgroups remembered for `deleted_grace`. */
  max_deleted: z.number().int().min(0).max(10_000_000).default(65_536),
  /** false: do not use inotify; rewalk every `rescan_interval` instead. */
  watch: z.boolean().default(true),
});

export type CgroupProcessorConfig = z.infer<typeof configSchema>;
