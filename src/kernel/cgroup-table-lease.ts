import { CgroupTable, type CgroupTableOptions } from './cgroup-table.ts';

interface Entry {
  readonly table: CgroupTable;
  refs: number;
}

/**
 * One table per root and settings, however many users: `cgroup` processors (one per pipeline)
 * and ebpf receivers keeping a `cgroup_id_map`.
 */
const tables = new Map<string, Entry>();

export interface TableLease {
  readonly table: CgroupTable;
  /** Drop this user; the last one stops the table. Safe twice. */
  release(): void;
}

/** The shared table for `options` (started on first use). Throws when the root cannot be read. */
export function acquireTable(options: CgroupTableOptions): TableLease {
  const key = JSON.stringify([
    options.root,
    options.deletedGraceMs,
    options.rescanIntervalMs,
    options.maxWatches,
    options.maxDeleted,
    options.watch ?? true,
  ]);
  let entry = tables.get(key);
  if (!entry) {
    const table = new CgroupTable(options);
    table.start();
    entry = { table, refs: 0 };
    tables.set(key, entry);
  }
  entry.refs++;
  const e = entry;
  let released = false;
  return {
    table: e.table,
    release() {
      if (released) return;
      released = true;
      if (--e.refs > 0) return;
      e.table.stop();
      if (tables.get(key) === e) tables.delete(key);
    },
  };
}
