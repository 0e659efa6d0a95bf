import { getHeapSpaceStatistics } from 'node:v8';
import { mallocStats } from '../../src/native/index.ts';

/**
 * Where a process's memory is (MiB), to tell a leak from allocator and GC behaviour: a leak
 * grows `heapUsed` (JS, after a full GC) or `mallocInUse` (native: TLS, addons, Node
 * internals); V8 keeping its heap grown shows as `heapTotal` (with `newSpace`) over
 * `heapUsed`, and glibc keeping freed memory as `mallocFree`. Take it after a full GC.
 */
export interface MemorySplit {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly newSpace: number;
  readonly external: number;
  readonly mallocInUse: number;
  readonly mallocFree: number;
}

const mib = (n: number): number => Math.round((n / 2 ** 20) * 10) / 10;

/** This process's split now (call a full GC first). */
export function memorySplit(): MemorySplit {
  const m = process.memoryUsage();
  const malloc = mallocStats();
  return {
    rss: mib(m.rss),
    heapUsed: mib(m.heapUsed),
    heapTotal: mib(m.heapTotal),
    newSpace: mib(getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0),
    external: mib(m.external),
    mallocInUse: mib(malloc.heapBytes + malloc.mmappedBytes - malloc.freeBytes),
    mallocFree: mib(malloc.freeBytes),
  };
}

export const showSplit = (s: MemorySplit): string =>
  `RSS ${s.rss}: JS heap ${s.heapUsed} used of ${s.heapTotal} (new space ${s.newSpace}), external ${s.external}, ` +
  `malloc ${s.mallocInUse} in use + ${s.mallocFree} free`;
