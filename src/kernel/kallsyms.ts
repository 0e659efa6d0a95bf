import { readFileSync } from 'node:fs';
import { CollectorError } from '../errors.ts';

/**
 * The kernel symbol table from /proc/kallsyms, sorted by address.
 *
 * Compact: about 122k symbols take ~2.5 MB instead of ~45 MB as a string array.
 * Addresses are two Uint32Arrays (high and low halves, so a lookup needs no
 * BigInt arithmetic); names are one latin1 buffer in address order, each
 * followed by a newline, with start offsets; a name becomes a string only when
 * it is looked up. Exact lookups are a binary search. On a miss the table is
 * re-read, at most once per `refreshIntervalMs`, so symbols of modules loaded
 * after start resolve.
 *
 * Kernels built with function padding (x86 since 6.2) list a `__pfx_<name>` symbol
 * right before nearly every function, a fixed distance below it: half the symbols and
 * half the name bytes. Such a symbol is kept as one bit on the function that follows
 * it (`pfx`), and every lookup answers as if it were in the table (see `fold`).
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
  /** Bit i set: symbol i (the first at its address) has a folded `__pfx_` twin `gap` bytes below it. */
  readonly pfx: Uint8Array;
  /** Distance of a folded `__pfx_` symbol below its function (the first one seen; 0 if none folded). */
  readonly gap: number;
  /** Symbols in the file, the folded ones counted. */
  readonly symbols: number;
}

/** The prefix kernels with function padding give the padding before a function. */
const PFX = '__pfx_';

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

  /** Symbols in the table, as many as the file lists. */
  get size(): number {
    return this.table.symbols;
  }

  /** Bytes the table keeps (names, addresses, offsets). */
  get bytes(): number {
    const t = this.table;
    return t.names.length + t.hi.byteLength + t.lo.byteLength + t.starts.byteLength + t.pfx.byteLength;
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
    const hi = hiOf(addr);
    const lo = loOf(addr);
    const i = floorIndex(t, hi, lo);
    const j = foldedAbove(t, i, hi, lo);
    if (j >= 0) return PFX + nameAt(t, j);
    return i < 0 ? undefined : nameAt(t, i);
  }

  /** The address of a symbol by name (first in address order), for `kaddrs`. Linear: not for hot paths. */
  addressOf(name: string): bigint | undefined {
    const t = this.table;
    if (name === '' || name.includes('\n')) return undefined;
    const found = firstNamed(t, name, () => true);
    if (t.gap > 0 && name.startsWith(PFX) && name.length > PFX.length) {
      // A folded `__pfx_x` lies `gap` below the first `x` that carries its bit.
      const i = firstNamed(t, name.slice(PFX.length), (k) => hasPfx(t, k));
      if (i !== undefined && (found === undefined || i < found)) return addressAt(t, i) - BigInt(t.gap);
    }
    return found === undefined ? undefined : addressAt(t, found);
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
 * kstack decoder and `kaddrs` read the same table (~2.5 MB) once, and a module-load
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

function addressAt(t: Table, i: number): bigint {
  return (BigInt(t.hi[i] as number) << 32n) | BigInt(t.lo[i] as number);
}

function hasPfx(t: Table, i: number): boolean {
  return ((t.pfx[i >>> 3] as number) & (1 << (i & 7))) !== 0;
}

/**
 * The first symbol (in address order) named `name` for which `accept` holds: the
 * names are "\n"-terminated, so look for "\nname\n", or "name\n" at the very start.
 */
function firstNamed(t: Table, name: string, accept: (i: number) => boolean): number | undefined {
  const needle = Buffer.from(`\n${name}\n`, 'latin1');
  let from = 0;
  if (t.names.subarray(0, needle.length - 1).equals(needle.subarray(1))) {
    if (accept(0)) return 0;
    from = 1;
  }
  for (;;) {
    const found = t.names.indexOf(needle, from);
    if (found < 0) return undefined;
    const i = indexOfStart(t.starts, t.size, found + 1);
    if (accept(i)) return i;
    from = found + 1;
  }
}

/**
 * The symbol whose folded `__pfx_` twin (hi, lo) falls in, or -1: the next symbol above
 * the floor `i` (-1 below the first symbol), when it carries the bit and lies at most
 * `gap` bytes above. Nothing else lies between a folded symbol and its function: it is
 * folded only when the function follows it directly.
 */
function foldedAbove(t: Table, i: number, hi: number, lo: number): number {
  if (t.gap === 0) return -1;
  let j = i + 1;
  while (j > 0 && j < t.size && t.hi[j] === t.hi[j - 1] && t.lo[j] === t.lo[j - 1]) j++;
  if (j >= t.size || !hasPfx(t, j) || t.hi[j] !== hi) return -1;
  const below = (t.lo[j] as number) - lo;
  return below > 0 && below <= t.gap ? j : -1;
}

function exactIn(t: Table, addr: bigint): string | undefined {
  if (addr < 0n || addr > MAX_ADDR) return undefined;
  const hi = hiOf(addr);
  const lo = loOf(addr);
  const i = floorIndex(t, hi, lo);
  if (i >= 0 && t.hi[i] === hi && t.lo[i] === lo) return nameAt(t, i);
  const j = foldedAbove(t, i, hi, lo);
  return j >= 0 && (t.lo[j] as number) - lo === t.gap ? PFX + nameAt(t, j) : undefined;
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
  const { folded, gap } = fold(file, n, order, hi, lo, nameStart, nameEnd);
  let bytes = 0;
  let m = 0;
  for (let k = 0; k < n; k++) {
    if (folded[k] === 1) continue;
    const i = order ? (order[k] as number) : k;
    bytes += (nameEnd[i] as number) - (nameStart[i] as number) + 1;
    m++;
  }
  const names = Buffer.allocUnsafeSlow(bytes);
  const starts = new Uint32Array(m + 1);
  const shi = new Uint32Array(m);
  const slo = new Uint32Array(m);
  const pfx = new Uint8Array((m + 7) >>> 3);
  let used = 0;
  let j = 0;
  for (let k = 0; k < n; k++) {
    const i = order ? (order[k] as number) : k;
    if (folded[k] === 1) {
      pfx[j >>> 3] = (pfx[j >>> 3] as number) | (1 << (j & 7)); // on the function, next
      continue;
    }
    shi[j] = hi[i] as number;
    slo[j] = lo[i] as number;
    starts[j] = used;
    used += file.copy(names, used, nameStart[i], nameEnd[i]);
    names[used++] = NL;
    j++;
  }
  starts[m] = used;
  return { hi: shi, lo: slo, names, starts, size: m, pfx, gap, symbols: n };
}

/** The farthest a `__pfx_` symbol is folded below its function (kernels pad 16 bytes, 64 at most). */
const MAX_GAP = 64;

/** `name` (bytes s..e of the file) starts with `__pfx_`, and has more after it. */
function isPfx(file: Buffer, s: number, e: number): boolean {
  return (
    e - s > PFX.length &&
    file[s] === 0x5f &&
    file[s + 1] === 0x5f &&
    file[s + 2] === 0x70 &&
    file[s + 3] === 0x66 &&
    file[s + 4] === 0x78 &&
    file[s + 5] === 0x5f
  );
}

/**
 * Which symbols (in address order: `order[k]`, or k, is the file index of the k-th) are
 * folded: a `__pfx_x` whose address no other symbol shares, directly followed by `x` (not
 * itself a `__pfx_` name), all at one distance (the first seen) below their functions.
 * Anything else stays in the table as read.
 */
function fold(
  file: Buffer,
  n: number,
  order: Uint32Array | undefined,
  hi: Uint32Array,
  lo: Uint32Array,
  nameStart: Uint32Array,
  nameEnd: Uint32Array,
): { folded: Uint8Array; gap: number } {
  const folded = new Uint8Array(n);
  let gap = 0;
  for (let k = 0; k + 1 < n; k++) {
    const i = order ? (order[k] as number) : k;
    const s = nameStart[i] as number;
    const e = nameEnd[i] as number;
    if (!isPfx(file, s, e)) continue;
    const f = order ? (order[k + 1] as number) : k + 1;
    const distance = (lo[f] as number) - (lo[i] as number);
    if (hi[f] !== hi[i] || distance <= 0 || distance > MAX_GAP || (gap !== 0 && distance !== gap)) continue;
    if (k > 0) {
      const p = order ? (order[k - 1] as number) : k - 1;
      if (hi[p] === hi[i] && lo[p] === lo[i]) continue; // shares its address
    }
    const fs = nameStart[f] as number;
    const fe = nameEnd[f] as number;
    const rest = s + PFX.length;
    if (fe - fs !== e - rest || isPfx(file, fs, fe)) continue;
    let same = true;
    for (let b = 0; b < fe - fs; b++) {
      if (file[fs + b] !== file[rest + b]) {
        same = false;
        break;
      }
    }
    if (!same) continue;
    folded[k] = 1;
    gap = distance;
  }
  return { folded, gap };
}
