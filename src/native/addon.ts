/**
 * The one module that loads the N-API addon (native/) and the addon's own shape.
 * Nothing outside src/native/ may load the addon.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { CollectorError } from '../errors.ts';
import type { MapInfo, ProgramInfo } from './types.ts';

// ---------------------------------------------------------------------------
// The addon's own shape (see native/README.md).

export interface NativeLogLine {
  readonly level: 'warn' | 'info' | 'debug';
  readonly text: string;
}

/** What the addon throws: an Error with errno fields and libbpf's log, or a state error. */
export interface NativeError extends Error {
  readonly errno?: number;
  readonly errnoName?: string;
  readonly errnoText?: string;
  readonly log?: readonly NativeLogLine[];
  readonly state?: 'closed' | 'not-loaded' | 'loaded' | 'no-program' | 'no-global' | 'not-ringbuf';
}

export interface NativeAttach {
  readonly attached: boolean;
  readonly errno?: number;
  readonly errnoName?: string;
  readonly errnoText?: string;
  readonly log: readonly NativeLogLine[];
}

export interface NativeMapInfo extends MapInfo {
  readonly internal: boolean;
}

export interface NativeObjectHandle {
  readonly closed: boolean;
  readonly loaded: boolean;
  programs(): ProgramInfo[];
  maps(): NativeMapInfo[];
  globals(): { name: string; offset: number; size: number }[];
  setGlobal(name: string, bytes: Buffer): void;
  setAutoload(program: string, autoload: boolean): void;
  load(): void;
  attach(program: string): NativeAttach;
  attachUsdt(program: string, path: string, provider: string, name: string, pid: number): NativeAttach;
  attachUprobe(program: string, path: string, func: string, retprobe: boolean, pid: number): NativeAttach;
  detach(program: string): void;
  iterRead(program: string): Buffer;
  testRun(program: string, ctx?: Buffer): { retval: number; durationNs: number };
  mapLookup(index: number, key: Buffer, out: Buffer): boolean;
  mapUpdate(index: number, key: Buffer, value: Buffer, flags: number): void;
  mapUpdateBatch(index: number, keys: Buffer, values: Buffer, count: number, flags: number): number;
  mapDelete(index: number, key: Buffer): boolean;
  /** n ≥ 0: done, n entries. n < 0: buffers full with -1-n entries; grow and resume. */
  mapRead(index: number, keys: Buffer, values: Buffer, offset: number, resume: boolean): number;
  mapReadMethod(index: number): 'batch' | 'walk';
  /**
   * A ring read in place: onBatch(count, lost, offset, length) per drain that found records,
   * the records at [offset, offset + length) of bufferArea(id) (see RecordBatch); drained
   * every drainMs (0: no timer) and, with `poll`, on wake-ups.
   */
  ringOpen(
    index: number,
    onBatch: (count: number, lost: number, offset: number, length: number) => void,
    drainMs: number,
    poll: boolean,
  ): number;
  /** As ringOpen, the records copied into `staging` (offset 0); onBig(copy) for a record larger than it. */
  perfOpen(
    index: number,
    pageCount: number,
    onBatch: (count: number, lost: number, offset: number, length: number) => void,
    onBig: (record: Buffer) => void,
    staging: Buffer,
    drainMs: number,
    poll: boolean,
  ): number;
  /** A ring's data pages (twice in a row, read-only), detached when it closes. */
  bufferArea(id: number): ArrayBuffer;
  /** Ring and perf buffers alike, by the id their open returned. */
  bufferConsume(id: number): number;
  bufferStats(id: number): {
    delivered?: number;
    lost?: number;
    callbackErrors?: number;
    timerDrains?: number;
  };
  bufferClose(id: number): void;
  close(): void;
}

interface NativeAddon {
  NativeObject: new (path: string, btfPath?: string) => NativeObjectHandle;
  errnoText(errno: number): string;
  syscallGetpid(n: number): number;
  syscallGetpgid(n: number, arg: number): number;
  callUprobeTarget(n: number): number;
  ioUringThread(sqpoll: boolean): void;
  ioUringRelease(): void;
  libbpfVersion(): string;
  postAttachMark(): void;
  mallocTune(mmapThreshold: number, trimThreshold: number, arenaMax: number): boolean;
  mallocTrim(): boolean;
  mallocStats(): MallocStats;
  dropExecutablePages(): number;
  loopBusyStart(): void;
  loopBusyTake(): { maxMs: number; iterations: number };
  loopBusyStop(): void;
  capsGet(): NativeCaps;
  capsSetAllThreads(keep: bigint, timeoutMs: number): NativeCapsDrop;
  readonly numPossibleCpus: number;
}

/** capsGet(): the calling thread's capability sets (native/caps.cc). */
interface NativeCaps {
  readonly tid: number;
  readonly effective: bigint;
  readonly permitted: bigint;
  readonly inheritable: bigint;
  readonly ambient: bigint;
  readonly bounding: bigint;
  readonly lastCap: number;
}

/** capsSetAllThreads(): what the per-thread drop did (native/caps.cc). */
interface NativeCapsDrop {
  readonly keep: bigint;
  readonly bounding: boolean;
  readonly threads: number;
  readonly acked: number;
  readonly passes: number;
  readonly handlerRestored: boolean;
  readonly timedOut: readonly number[];
  /** io_uring kernel threads (PF_IO_WORKER): listed, never signalled (they run no user code). */
  readonly ioThreads: readonly number[];
  readonly failures: readonly { tid: number; step: string; errnoText: string }[];
}

/** glibc's mallinfo2(3), bytes: heap obtained with brk/arenas, mmapped chunks, free in the heap. */
export interface MallocStats {
  readonly heapBytes: number;
  readonly mmappedBytes: number;
  readonly freeBytes: number;
}

/** Where the built addon lives (node-gyp's output). */
export const ADDON_PATH = fileURLToPath(
  new URL('../../native/build/Release/ebpf_native.node', import.meta.url),
);

let addon: NativeAddon | undefined;

/** The addon if it has been loaded, without loading it. */
export function loadedAddon(): NativeAddon | undefined {
  return addon;
}

/** @internal for the other modules of src/native/ (caps.ts): the loaded addon. */
export function nativeAddon(): NativeAddon {
  return native();
}

export function native(): NativeAddon {
  if (addon) return addon;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  } catch (err) {
    throw new CollectorError(
      'ERR_NATIVE_ADDON',
      `load ${ADDON_PATH}: ${(err as Error).message.split('\n')[0]} (build it with \`npm run build:native\`)`,
      { cause: err },
    );
  }
  return addon;
}
