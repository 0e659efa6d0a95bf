import { readFileSync } from 'node:fs';
import { CollectorError } from '../errors.ts';

/**
 * The kernel symbol table from /proc/kallsyms, sorted by address.
 *
 * Exact lookups are a binary search over a BigUint64Array (addresses do not
 * fit a double). On a miss the table is re-read, at most once per
 * `refreshIntervalMs`, so symbols of modules loaded after start resolve.
 */
export interface KallsymsOptions {
  readonly path?: string;
  /** Minimum time between re-reads triggered by misses. Default 10 s. */
  readonly refreshIntervalMs?: number;
  readonly now?: () => number;
}

interface Table {
  readonly addrs: BigUint64Array;
  readonly names: readonly string[];
}

export class Kallsyms {
  readonly path: string;
  private readonly refreshIntervalMs: number;
  private readonly now: () => number;
  private table: Table;
  private lastLoadMs: number;
  /** Re-reads of the table since construction. */
  refreshes = 0;

  constructor(options: KallsymsOptions = {}) {
    this.path = options.path ?? '/proc/kallsyms';
    this.refreshIntervalMs = options.refreshIntervalMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.table = loadTable(this.path);
    this.lastLoadMs = this.now();
  }

  get size(): number {
    return this.table.names.length;
  }

  /** The symbol at exactly `addr`, or undefined. Module symbols read `name\t[module]` as in kallsyms. */
  exact(addr: bigint): string | undefined {
    const hit = exactIn(this.table, addr);
    if (hit !== undefined) return hit;
    if (this.now() - this.lastLoadMs < this.refreshIntervalMs) return undefined;
    this.reload();
    return exactIn(this.table, addr);
  }

  /** The nearest symbol at or below `addr` (for stack frames), or undefined below the first symbol. */
  nearest(addr: bigint): string | undefined {
    const i = floorIndex(this.table.addrs, addr);
    return i < 0 ? undefined : this.table.names[i];
  }

  /** The address of a symbol by name (first match), for `kaddrs`. Linear: not for hot paths. */
  addressOf(name: string): bigint | undefined {
    const i = this.table.names.findIndex((n) => n === name);
    return i < 0 ? undefined : this.table.addrs[i];
  }

  reload(): void {
    this.table = loadTable(this.path);
    this.lastLoadMs = this.now();
    this.refreshes++;
  }
}

const sharedTables = new Map<string, Kallsyms>();

/**
 * One table per kallsyms path for the whole process: the ksym processor, the
 * kstack decoder and `kaddrs` read the same 5 MB table once, and a module-load
 * refresh by one is seen by all. The first caller's refresh interval wins.
 */
export function sharedKallsyms(options: KallsymsOptions = {}): Kallsyms {
  const path = options.path ?? '/proc/kallsyms';
  let table = sharedTables.get(path);
  if (!table) {
    table = new Kallsyms(options);
    sharedTables.set(path, table);
  }
  return table;
}

/** Render an address as ebpf_exporter does for unknown symbols. */
export function unknownAddr(addr: bigint): string {
  return `unknown_addr:0x${addr.toString(16).padStart(16, '0')}`;
}

function exactIn(table: Table, addr: bigint): string | undefined {
  const i = floorIndex(table.addrs, addr);
  return i >= 0 && table.addrs[i] === addr ? table.names[i] : undefined;
}

/** Index of the first entry among those with the greatest address <= addr; -1 if none. */
function floorIndex(addrs: BigUint64Array, addr: bigint): number {
  let lo = 0;
  let hi = addrs.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if ((addrs[mid] as bigint) <= addr) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  // Several symbols can share an address: take the first in file order.
  while (found > 0 && addrs[found - 1] === addrs[found]) found--;
  return found;
}

function loadTable(path: string): Table {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (err) {
    throw new CollectorError('ERR_KSYM_READ', `read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const entries: { addr: bigint; name: string; order: number }[] = [];
  let nonZero = false;
  let start = 0;
  let order = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    // "ffffffff81000000 T _text" or "ffffffffc0a01000 t commit_timeout\t[jbd2]"
    const sp1 = text.indexOf(' ', start);
    if (sp1 > start && sp1 < end) {
      const addr = BigInt(`0x${text.slice(start, sp1)}`);
      const name = text.slice(sp1 + 3, end);
      if (addr !== 0n) nonZero = true;
      entries.push({ addr, name, order: order++ });
    }
    start = end + 1;
  }
  if (entries.length > 0 && !nonZero) {
    throw new CollectorError(
      'ERR_KSYM_HIDDEN',
      `read ${path}: every address is 0: kernel addresses are hidden from this process. Run as root or with CAP_SYSLOG, or set kernel.kptr_restrict=0`,
    );
  }
  entries.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : a.order - b.order));
  const addrs = new BigUint64Array(entries.length);
  const names = new Array<string>(entries.length);
  entries.forEach((e, i) => {
    addrs[i] = e.addr;
    names[i] = e.name;
  });
  return { addrs, names };
}
