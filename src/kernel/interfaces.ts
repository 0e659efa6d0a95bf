import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface InterfaceNamesOptions {
  /** Default /sys/class/net: the interfaces of the network namespace sysfs was mounted in. */
  readonly sysClassNet?: string;
  /** A cached name is re-checked against its ifindex file when older than this. Default 1 s. */
  readonly revalidateMs?: number;
  /** A miss re-reads the directory at most this often. Default 1 s. */
  readonly rescanIntervalMs?: number;
  readonly now?: () => number;
}

interface Entry {
  name: string;
  checkedAt: number;
}

/**
 * ifindex → interface name from /sys/class/net/<name>/ifindex. A cached name
 * is trusted for `revalidateMs`, then confirmed by reading its ifindex file
 * (one small read), so a renamed or deleted interface never keeps a stale
 * name; an unknown index triggers a directory rescan, at most once per
 * `rescanIntervalMs`, so unresolvable indexes (other namespaces) stay cheap.
 */
export class InterfaceNames {
  private readonly dir: string;
  private readonly revalidateMs: number;
  private readonly rescanIntervalMs: number;
  private readonly now: () => number;
  private readonly cache = new Map<number, Entry>();
  private lastScan = -Infinity;
  /** Directory scans so far (for tests and self-metrics). */
  scans = 0;

  constructor(options: InterfaceNamesOptions = {}) {
    this.dir = options.sysClassNet ?? '/sys/class/net';
    this.revalidateMs = options.revalidateMs ?? 1000;
    this.rescanIntervalMs = options.rescanIntervalMs ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /** The name of interface `index`, or undefined when there is none (now). */
  lookup(index: number): string | undefined {
    const t = this.now();
    const entry = this.cache.get(index);
    if (entry) {
      if (t - entry.checkedAt < this.revalidateMs) return entry.name;
      if (this.indexOf(entry.name) === index) {
        entry.checkedAt = t;
        return entry.name;
      }
      // Renamed or deleted: the cached name is wrong; look again right away.
      this.cache.delete(index);
      this.scan(t);
      return this.cache.get(index)?.name;
    }
    if (t - this.lastScan < this.rescanIntervalMs) return undefined;
    this.scan(t);
    return this.cache.get(index)?.name;
  }

  private scan(t: number): void {
    this.lastScan = t;
    this.scans++;
    this.cache.clear();
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return; // no sysfs: every index is unknown
    }
    for (const name of names) {
      const index = this.indexOf(name);
      if (index !== undefined) this.cache.set(index, { name, checkedAt: t });
    }
  }

  private indexOf(name: string): number | undefined {
    try {
      const n = Number.parseInt(readFileSync(join(this.dir, name, 'ifindex'), 'utf8'), 10);
      return Number.isNaN(n) ? undefined : n;
    } catch {
      return undefined; // vanished between readdir and read
    }
  }
}
