/**
 * The contract of the native layer. src/native/index.ts implements it over the
 * N-API addon in native/; nothing else in src/ may load the addon.
 *
 * A spec (ObjectSpec) is a parsed object file with nothing in the kernel yet; a
 * BpfObject owns kernel objects and file descriptors and must be closed.
 */

/** Kernel map types by libbpf name without the prefix, e.g. 'hash', 'percpu_array', 'ringbuf'. */
export type MapTypeName = string;

export interface MapInfo {
  readonly name: string;
  /** libbpf's name for the type: 'hash', 'lru_hash', 'array', 'percpu_hash', 'ringbuf', … */
  readonly type: MapTypeName;
  readonly keySize: number;
  /** Size of one value as the program sees it (one CPU's value for per-CPU maps). */
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly perCpu: boolean;
  /** For per-CPU maps: libbpf_num_possible_cpus(); 1 otherwise. */
  readonly numCpus: number;
  /** Bytes of one value as user space reads it: round_up(valueSize, 8) × numCpus for per-CPU maps. */
  readonly valueStride: number;
  /** Created maps only: the kernel's map id (`bpftool map show id N`; a program's `map->id`). */
  readonly id?: number | undefined;
}

export interface ProgramInfo {
  readonly name: string;
  /** The SEC() name, e.g. 'tp_btf/timer_start'. */
  readonly section: string;
  /** libbpf's name for the program type, e.g. 'tracing', 'tracepoint'. */
  readonly type: string;
  readonly autoload: boolean;
  /** Loaded programs only: the kernel's program id and tag (hex). */
  readonly id?: number | undefined;
  readonly tag?: string | undefined;
  /** Loaded programs only: runs and time spent, counted while kernel.bpf_stats_enabled=1. */
  readonly runCount?: number | undefined;
  readonly runTimeNs?: number | undefined;
  /** Loaded programs only: bytes of JIT-compiled code (all subprograms), 0 when not JITed. */
  readonly jitedLen?: number | undefined;
}

export interface AttachResult {
  readonly program: string;
  readonly section: string;
  readonly attached: boolean;
  /** When not attached: the reason, errno by name and meaning, e.g. 'ENOENT (no such file or directory)'. */
  readonly error?: string;
  readonly errno?: string;
  /** libbpf log lines captured during the attempt. */
  readonly log?: readonly string[];
}

/**
 * A whole-map read. `keys` and `values` are views into buffers the map reuses:
 * valid until the next read of the same map. Entry i is
 * keys[i*keySize .. +keySize) and values[i*valueStride .. +valueStride).
 */
export interface MapBatch {
  readonly count: number;
  readonly keys: Buffer;
  readonly values: Buffer;
  /** 'batch' or 'walk' (get_next_key + lookup, where batch ops are unsupported). */
  readonly method: 'batch' | 'walk';
}

export interface BpfMap {
  readonly info: MapInfo;
  readAll(): MapBatch;
  lookup(key: Buffer): Buffer | undefined;
  /** flags: 'any' (default), 'noexist', 'exist'. */
  update(key: Buffer, value: Buffer, flags?: 'any' | 'noexist' | 'exist'): void;
  /** Returns false when the key was not there. */
  delete(key: Buffer): boolean;
  /**
   * Update many entries at once (bpf_map_update_batch, in chunks): entry i is
   * keys[i*keySize ..] and values[i*valueStride ..]. Returns entries updated.
   * The kernel's batch update has no noexist/exist: with those flags the
   * entries go one by one (stopping at the first failure).
   */
  updateBatch(keys: Buffer, values: Buffer, flags?: 'any' | 'noexist' | 'exist'): number;
}

export interface RingBufferOptions {
  /** Drain period for programs that submit with BPF_RB_NO_WAKEUP. Default 50 ms. 0 = no timer. */
  readonly drainIntervalMs?: number;
  /** Also wake on epoll readiness (for programs that submit with wake-ups). Default true. */
  readonly poll?: boolean;
}

export interface RingBuffer {
  /** Drain now; returns records delivered. */
  consume(): number;
  /** Records delivered since open. */
  readonly delivered: number;
  /** Drains of the native timer since open (one that finds no record does not enter JS). */
  readonly timerDrains: number;
  /**
   * Handler calls that threw since open. A throwing handler never reaches the
   * event loop: the exception is counted here (the last one kept in
   * lastHandlerError), that record (or the rest of that batch) is dropped and
   * delivery goes on.
   */
  readonly handlerErrors: number;
  readonly lastHandlerError: unknown;
  /** Stop delivery and release the ring (and its poll handle). Safe twice. */
  close(): void;
}

/** One record at a time: a copy of each record (tests and simple uses). */
export type RecordHandler = (record: Buffer) => void;

/**
 * The records of one drain, packed in one buffer (native/buffers.h). The first
 * record's header is at `start`; a record at `at` has its length at `at` (u32),
 * its CPU at `at + 4` (u32: the perf CPU it came from; for a ring a kernel word
 * of no meaning here) and its bytes from `at + 8`; the next record starts at
 * `at + 8 + round_up(length, 8)` (nextRecord()). Header words are in host byte
 * order (little-endian on x86-64 and arm64), as the records themselves.
 *
 * `bytes` and `view` cover the buffer's whole area and the batch object is
 * reused: valid only during the handler call. For a ring the area is the ring's
 * own pages, mapped read-only (the records are read in place, never copied):
 * writing into them kills the process, and the kernel may reuse them once the
 * call returns. Copy what must outlive the call.
 */
export interface RecordBatch {
  readonly count: number;
  /** Offset of the first record in `bytes` / `view`. */
  readonly start: number;
  readonly bytes: Buffer;
  readonly view: DataView;
  /** Records the kernel lost since the previous batch (perf lost samples; 0 for a ring). */
  readonly lost: number;
}

/**
 * A consumer of whole batches: one call per drain, no object per record. A
 * throw counts one handler error and drops what the handler had not read of that batch.
 */
export interface BatchSink {
  readonly onBatch: (batch: RecordBatch) => void;
}

/** What ringBuffer()/perfBuffer() deliver to: one record per call, or one batch per call. */
export type EventHandler = RecordHandler | BatchSink;

export interface PerfBufferOptions {
  /** Pages of each CPU's buffer (a power of two). Default 64 (256 KiB per CPU). */
  readonly pageCount?: number;
  /** Drain period (perf_buffer__consume) besides epoll wake-ups. Default 50 ms. 0 = no timer. */
  readonly drainIntervalMs?: number;
  /** Wake on epoll readiness. Default true. */
  readonly poll?: boolean;
}

/** A perf event array being consumed: like RingBuffer, plus records the kernel lost. */
export interface PerfBuffer extends RingBuffer {
  /** Records the kernel dropped because a CPU's buffer was full (lost-sample callbacks), since open. */
  readonly lost: number;
}

export interface BpfObject {
  readonly path: string;
  programs(): ProgramInfo[];
  maps(): MapInfo[];
  map(name: string): BpfMap;
  /** Attach every autoloaded program by its SEC name (or only the named ones). Never throws for attach failures. */
  attach(programs?: readonly string[]): AttachResult[];
  /** Attach a USDT probe of a binary (path must be absolute); pid -1 = every process. */
  attachUsdt(program: string, binaryPath: string, provider: string, name: string, pid?: number): AttachResult;
  /** Attach a uprobe on a function of a binary or library; pid -1 = every process. */
  attachUprobe(
    program: string,
    binaryPath: string,
    func: string,
    opts?: { retprobe?: boolean; pid?: number },
  ): AttachResult;
  /** Detach one program's links. */
  detach(program: string): void;
  /**
   * An attached `iter/…` program: create an iterator from its link and read it
   * to the end (the program runs once per object, then once with a NULL object).
   */
  iterRead(program: string): Buffer;
  /** Run a loaded program once with BPF_PROG_TEST_RUN (e.g. `SEC("syscall")`); `ctx` as the program's context. */
  testRun(program: string, ctx?: Buffer): { retval: number; durationNs: number };
  /** Batches are views valid only during the handler call: copy what you keep. A ring is read in place (read-only). */
  ringBuffer(mapName: string, handler: EventHandler, options?: RingBufferOptions): RingBuffer;
  /** A BPF_MAP_TYPE_PERF_EVENT_ARRAY map's records (perf_buffer__new). Views valid only during the call. */
  perfBuffer(mapName: string, handler: EventHandler, options?: PerfBufferOptions): PerfBuffer;
  /** Detach every link, close every ring buffer, map and program. Safe twice. */
  close(): void;
  /**
   * Resolves once all that close() let go is gone: an event buffer's timer and poll handles
   * close in the close phase of the event-loop turn of close(), and only then are its fds
   * (a ring's or perf buffer's own map fd, perf events, epoll) closed. At once without buffers.
   */
  released(): Promise<void>;
  readonly closed: boolean;
}

export interface OpenOptions {
  /** External BTF for CO-RE relocations (kernels without /sys/kernel/btf/vmlinux). */
  readonly btfPath?: string;
}

export interface ObjectSpec {
  readonly path: string;
  programs(): ProgramInfo[];
  maps(): MapInfo[];
  /** Names and sizes of the `const volatile` globals (.rodata) that can be set before load. */
  globals(): { readonly name: string; readonly size: number }[];
  /** Set a `const volatile` global before load. Numbers/bigints are written little-endian in the variable's size. */
  setGlobal(name: string, value: number | bigint | boolean | Buffer): void;
  setAutoload(program: string, autoload: boolean): void;
  /** Load into the kernel. The spec is consumed (closed) whether load succeeds or fails. */
  load(): BpfObject;
  /** Release a spec that will not be loaded. Safe twice. */
  close(): void;
}
