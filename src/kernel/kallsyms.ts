import { readFileSync } from 'node:fs';
import { CollectorError } from '../errors.ts';

/**
 * The kernel symbol table from /proc/kallsyms, sorted by address.
 *
 * Compact: about 122k symbols take ~5 MB instead of ~45 MB as a string array.
 * Addresses are two Uint32Arrays (high and low halves, so a lookup needs no
 * BigInt arithmetic); names are one latin1 buffer in address order, each
 * followed by a newline, with start offsets; a name becomes a string only when
 * it is looked up. Exact lookups are a binary search. On a miss the table is
 * re-read, at most once per `refreshIntervalMs`, so symbols of modules loaded
 * after start resolve.
 */
export interface KallsymsOptions {
  readonly path?: string;
  /** Minimum time between re-reads triggered by misses. Default 10 s. */
  readonly refreshIntervalMs?: number;
  readonly now?: () => number;
}

interface Table {
  /** High and low 32 bits of each address, sorted by address (file order among equals). */
  readonly hi: Uint32Array;
  readonly lo: Uint32Array;
  /** Names in the same order, each followed by "\n" (latin1, as the file). */
  readonly names: Buffer;
  /** Start of name i in `names`; `starts[size]` is the buffer's length. */
  readonly starts: Uint32Array;
  readonly size: number;
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
    return this.table.size;
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
    if (addr < 0n) return undefined;
    if (addr > MAX_ADDR) addr = MAX_ADDR;
    const t = this.table;
    const i = floorIndex(t, hiOf(addr), loOf(addr));
    return i < 0 ? undefined : nameAt(t, i);
  }

  /** The address of a symbol by name (first in address order), for `kaddrs`. Linear: not for hot paths. */
  addressOf(name: string): bigint | undefined {
    const t = this.table;
    if (name === '' || name.includes('\n')) return undefined;
    // Names are "\n"-terminated: look for "\nname\n", or "name\n" at the very start.
    const needle = Buffer.from(`\n${name}\n`, 'latin1');
    let at: number;
    if (t.names.subarray(0, needle.length - 1).equals(needle.subarray(1))) at = 0;
    else {
      const found = t.names.indexOf(needle);
      if (found < 0) return undefined;
      at = found + 1;
    }
    const i = indexOfStart(t.starts, t.size, at);
    return (BigInt(t.hi[i] as number) << 32n) | BigInt(t.lo[i] as number);
  }

  /** The last failed re-read (the table in use is the one read before it). */
  reloadError: CollectorError | undefined;

  /**
   * Read the table again. A failed re-read keeps the table it had: e.g. after
   * `--capabilities.keep=none` dropped CAP_SYSLOG, kallsyms shows every address
   * as 0 (ERR_KSYM_HIDDEN), and symbols known at start must still resolve.
   */
  reload(): void {
    try {
      this.table = loadTable(this.path);
      this.refreshes++;
      this.reloadError = undefined;
    } catch (err) {
      this.reloadError =
        err instanceof CollectorError
          ? err
          : new CollectorError('ERR_KSYM_READ', String(err), { cause: err });
    }
    this.lastLoadMs = this.now();
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

/**
 * Render an address as ebpf_exporter does for unknown symbols: Go's `unknown_addr:0x%x`
 * (decoder/ksym.go), lowercase hex without leading zeros.
 */
export function unknownAddr(addr: bigint): string {
  return `unknown_addr:0x${addr.toString(16)}`;
}

const MAX_ADDR = 0xffff_ffff_ffff_ffffn;
/** The halves of an address in [0, MAX_ADDR]. */
const hiOf = (addr: bigint): number => Number((addr >> 32n) & 0xffff_ffffn);
const loOf = (addr: bigint): number => Number(addr & 0xffff_ffffn);

function nameAt(t: Table, i: number): string {
  // -1: the terminating newline.
  return t.names.toString('latin1', t.starts[i], (t.starts[i + 1] as number) - 1);
}

function exactIn(t: Table, addr: bigint): string | undefined {
  if (addr < 0n || addr > MAX_ADDR) return undefined;
  const hi = hiOf(addr);
  const lo = loOf(addr);
  const i = floorIndex(t, hi, lo);
  return i >= 0 && t.hi[i] === hi && t.lo[i] === lo ? nameAt(t, i) : undefined;
}

/** Index of the first entry among those with the greatest address <= (hi, lo); -1 if none. */
function floorIndex(t: Table, hi: number, lo: number): number {
  const { hi: his, lo: los } = t;
  let a = 0;
  let b = t.size - 1;
  let found = -1;
  while (a <= b) {
    const mid = (a + b) >>> 1;
    const h = his[mid] as number;
    if (h < hi || (h === hi && (los[mid] as number) <= lo)) {
      found = mid;
      a = mid + 1;
    } else {
      b = mid - 1;
    }
  }
  // Several symbols can share an address: take the first in file order.
  while (found > 0 && his[found - 1] === his[found] && los[found - 1] === los[found]) found--;
  return found;
}

/** The i with starts[i] === at (at is a name's start). */
function indexOfStart(starts: Uint32Array, size: number, at: number): number {
  let a = 0;
  let b = size - 1;
  while (a < b) {
    const mid = (a + b + 1) >>> 1;
    if ((starts[mid] as number) <= at) a = mid;
    else b = mid - 1;
  }
  return a;
}

const NL = 0x0a;
const SP = 0x20;

/** Value of an ASCII hex digit, or -1. */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

function loadTable(path: string): Table {
  let file: Buffer;
  try {
    file = readFileSync(path);
  } catch (err) {
    throw new CollectorError('ERR_KSYM_READ', `read ${path}: ${(err as Error).message}`, { cause: err });
  }
  // One pass over the bytes, in file order: address halves and where each name lies.
  // "ffffffff81000000 T _text" or "ffffffffc0a01000 t commit_timeout\t[jbd2]"
  let capacity = 1024;
  for (let i = file.indexOf(NL); i >= 0; i = file.indexOf(NL, i + 1)) capacity++;
  const hi = new Uint32Array(capacity);
  const lo = new Uint32Array(capacity);
  const nameStart = new Uint32Array(capacity);
  const nameEnd = new Uint32Array(capacity);
  let n = 0;
  let nonZero = false;
  let sorted = true;
  let start = 0;
  while (start < file.length) {
    let end = file.indexOf(NL, start);
    if (end < 0) end = file.length;
    const sp = file.indexOf(SP, start);
    if (sp > start && sp < end && sp - start <= 16 && sp + 3 <= end) {
      // Up to 16 hex digits: the last 8 are the low half.
      let h = 0;
      let l = 0;
      let ok = true;
      for (let j = start; j < sp; j++) {
        const v = hexValue(file[j] as number);
        if (v < 0) {
          ok = false;
          break;
        }
        if (sp - j > 8) h = h * 16 + v;
        else l = l * 16 + v;
      }
      if (ok) {
        hi[n] = h;
        lo[n] = l;
        nameStart[n] = sp + 3;
        nameEnd[n] = end;
        if (h !== 0 || l !== 0) nonZero = true;
        if (n > 0 && (h < (hi[n - 1] as number) || (h === hi[n - 1] && l < (lo[n - 1] as number))))
          sorted = false;
        n++;
      }
    }
    start = end + 1;
  }
  if (n > 0 && !nonZero) {
    throw new CollectorError(
      'ERR_KSYM_HIDDEN',
      `read ${path}: every address is 0: kernel addresses are hidden from this process. Run as root or with CAP_SYSLOG, or set kernel.kptr_restrict=0`,
    );
  }
  // The file is almost sorted (core kernel, then modules and BPF programs): sort an index
  // only when needed, stably, so symbols sharing an address keep file order.
  let order: Uint32Array | undefined;
  if (!sorted) {
    const idx = Array.from({ length: n }, (_, i) => i);
    idx.sort(
      (a, b) => (hi[a] as number) - (hi[b] as number) || (lo[a] as number) - (lo[b] as number) || a - b,
    );
    order = Uint32Array.from(idx);
  }
  let bytes = 0;
  for (let i = 0; i < n; i++) bytes += (nameEnd[i] as number) - (nameStart[i] as number) + 1;
  const names = Buffer.allocUnsafeSlow(bytes);
  const starts = new Uint32Array(n + 1);
  const shi = new Uint32Array(n);
  const slo = new Uint32Array(n);
  let at = 0;
  for (let k = 0; k < n; k++) {
    const i = order ? (order[k] as number) : k;
    shi[k] = hi[i] as number;
    slo[k] = lo[i] as number;
    starts[k] = at;
    at += file.copy(names, at, nameStart[i], nameEnd[i]);
    names[at++] = NL;
  }
  starts[n] = at;
  return { hi: shi, lo: slo, names, starts, size: n };
}
