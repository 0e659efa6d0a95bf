/**
 * The one module that loads the N-API addon (native/). It turns the addon's
 * marshalling into the contract of ./types.ts: states (spec → object →
 * closed), names, error codes and messages. Nothing else may load the addon.
 *
 * Errors are CollectorErrors with messages `verb object: cause`, errno by name
 * and meaning, and libbpf's log (kernel addresses redacted) as `details`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { CollectorError } from '../errors.ts';
import type {
  AttachResult,
  BpfMap,
  BpfObject,
  MapBatch,
  MapInfo,
  ObjectSpec,
  OpenOptions,
  PerfBuffer,
  PerfBufferOptions,
  ProgramInfo,
  RecordHandler,
  RingBuffer,
  RingBufferOptions,
} from './types.ts';

export type * from './types.ts';

// ---------------------------------------------------------------------------
// The addon's own shape (see native/README.md).

interface NativeLogLine {
  readonly level: 'warn' | 'info' | 'debug';
  readonly text: string;
}

/** What the addon throws: an Error with errno fields and libbpf's log, or a state error. */
interface NativeError extends Error {
  readonly errno?: number;
  readonly errnoName?: string;
  readonly errnoText?: string;
  readonly log?: readonly NativeLogLine[];
  readonly state?: 'closed' | 'not-loaded' | 'loaded' | 'no-program' | 'no-global' | 'not-ringbuf';
}

interface NativeAttach {
  readonly attached: boolean;
  readonly errno?: number;
  readonly errnoName?: string;
  readonly errnoText?: string;
  readonly log: readonly NativeLogLine[];
}

interface NativeMapInfo extends MapInfo {
  readonly internal: boolean;
}

interface NativeObjectHandle {
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
  ringOpen(
    index: number,
    onBatch: (count: number) => void,
    onBig: (record: Buffer) => void,
    staging: Buffer,
    lens: Uint32Array,
    poll: boolean,
  ): number;
  ringConsume(id: number): number;
  ringStats(id: number): { delivered?: number; callbackErrors?: number };
  ringClose(id: number): void;
  perfOpen(
    index: number,
    pageCount: number,
    onBatch: (count: number) => void,
    onBig: (record: Buffer) => void,
    staging: Buffer,
    lens: Uint32Array,
    poll: boolean,
  ): number;
  perfConsume(id: number): number;
  perfStats(id: number): { delivered?: number; lost?: number; callbackErrors?: number };
  perfClose(id: number): void;
  close(): void;
}

interface NativeAddon {
  NativeObject: new (path: string, btfPath?: string) => NativeObjectHandle;
  errnoText(errno: number): string;
  syscallGetpid(n: number): number;
  syscallGetpgid(n: number, arg: number): number;
  callUprobeTarget(n: number): number;
  libbpfVersion(): string;
  postAttachMark(): void;
  mallocTune(mmapThreshold: number, trimThreshold: number, arenaMax: number): boolean;
  mallocTrim(): boolean;
  mallocStats(): MallocStats;
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
  readonly failures: readonly { tid: number; step: string; errnoText: string }[];
}

/** Where the built addon lives (node-gyp's output). */
export const ADDON_PATH = fileURLToPath(
  new URL('../../native/build/Release/ebpf_native.node', import.meta.url),
);

let addon: NativeAddon | undefined;

/** @internal for the other modules of src/native/ (caps.ts): the loaded addon. */
export function nativeAddon(): NativeAddon {
  return native();
}

function native(): NativeAddon {
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

// ---------------------------------------------------------------------------
// Errors.

/** Kernel addresses out of text that leaves the process: `0xffff888102b4d800` → `0x…`. */
export function redact(line: string): string {
  return line.replace(/\b0x[fF]{4}[0-9a-fA-F]{8,12}\b/g, '0x…').replace(/\b[fF]{4}[0-9a-fA-F]{12}\b/g, '…');
}

function logLines(log: readonly NativeLogLine[] | undefined, withDebug = false): string[] {
  if (!log) return [];
  return log.filter((l) => withDebug || l.level !== 'debug').map((l) => redact(l.text));
}

function asNative(err: unknown): NativeError {
  return err instanceof Error ? err : new Error(String(err));
}

function causeOf(e: NativeError): string {
  return e.errnoText ?? e.message;
}

/** A CollectorError for a failed call `verb object`. State errors of a closed object become ERR_BPF_CLOSED. */
function fail(code: string, what: string, err: unknown, extra: readonly string[] = []): CollectorError {
  const e = asNative(err);
  if (err instanceof CollectorError) return err;
  const realCode = e.state === 'closed' ? 'ERR_BPF_CLOSED' : code;
  return new CollectorError(realCode, `${what}: ${causeOf(e)}`, {
    details: [...extra, ...logLines(e.log)],
    cause: err,
  });
}

function closedError(what: string): CollectorError {
  return new CollectorError('ERR_BPF_CLOSED', `${what}: object is closed`);
}

/** Lines between libbpf's BEGIN/END PROG LOAD LOG markers, for the program that failed. */
function verifierLog(lines: readonly string[]): string[] {
  const begin = lines.findIndex((l) => l.includes('-- BEGIN PROG LOAD LOG --'));
  if (begin < 0) return [];
  let end = lines.findIndex((l, i) => i > begin && l.includes('-- END PROG LOAD LOG --'));
  if (end < 0) end = lines.length;
  return lines.slice(begin + 1, end).filter((l) => l.trim() !== '');
}

// Verifier lines that are bookkeeping, not the reason.
const NOT_A_REASON =
  /^(processed \d+ insns|verification time|stack depth|\d+: |;|R\d+(_\w)?=|from \d+ to|last_idx|regs=|parent |propagating|mark_precise|frame\d|func#|Func#|Live regs|arg#\d+ reference type|\s)/;

/**
 * The verifier's reason: the last line of its log that is not an instruction,
 * state dump or statistic — plus `(file.c:line)` from the last source
 * annotation before it, when the object has line info.
 */
export function verifierReason(log: readonly string[]): string | undefined {
  for (let i = log.length - 1; i >= 0; i--) {
    const line = log[i] as string;
    if (NOT_A_REASON.test(line)) continue;
    for (let j = i - 1; j >= 0; j--) {
      const m = /^;.* @ (\S+):(\d+)$/.exec(log[j] as string);
      if (m && m[2] !== '0') return `${line} (${m[1]}:${m[2]})`;
    }
    return line;
  }
  return undefined;
}

/**
 * An extern the object uses that nothing defines, as libbpf logs it: at open, an extern
 * with no BTF at all (`failed to find BTF for extern 'memcmp'`: typically a libc call the
 * compiler emitted, which BPF cannot make); at load, a `__ksym` the kernel's BTF lacks
 * (`extern (func ksym) 'x': not found in kernel or module BTFs`). libbpf's errno (ENOENT,
 * ESRCH) says nothing of that, so the extern is the headline.
 */
function externError(what: string, err: unknown): CollectorError | undefined {
  const e = asNative(err);
  const lines = (e.log ?? []).map((l) => redact(l.text));
  for (const line of lines) {
    const noBtf = /failed to find BTF for extern '([^']+)'/.exec(line);
    if (noBtf) {
      return new CollectorError(
        'ERR_BPF_EXTERN',
        `${what}: extern '${noBtf[1]}' is not defined: neither the object nor the kernel has BTF for it ` +
          '(a C library function? BPF programs cannot call it: use a __builtin_ with a constant size, or a loop)',
        { details: logLines(e.log), cause: err },
      );
    }
    const ksym = /extern \((func|var) ksym\) '([^']+)': not found in kernel/.exec(line);
    if (ksym) {
      return new CollectorError(
        'ERR_BPF_EXTERN',
        `${what}: extern ${ksym[1] === 'func' ? 'kfunc' : 'kernel variable'} '${ksym[2]}' is not in this kernel's BTF ` +
          '(declare it __weak and check bpf_ksym_exists() to run without it)',
        { details: logLines(e.log), cause: err },
      );
    }
  }
  return undefined;
}

function loadError(
  path: string,
  err: unknown,
  programs: readonly ProgramInfo[],
  btfPath?: string,
): CollectorError {
  const e = asNative(err);
  if (e.state === 'closed') return closedError(`load ${path}`);
  const extern = externError(`load ${path}`, err);
  if (extern) return extern;
  const all = (e.log ?? []).map((l) => redact(l.text));
  const progLine = all.find((l) => /^prog '[^']+': (BPF program load failed|failed to load)/.test(l));
  const prog = progLine ? /^prog '([^']+)'/.exec(progLine)?.[1] : undefined;
  const mapLine = all.find((l) => /^map '[^']+': (failed|error)/.test(l));
  const map = mapLine ? /^map '([^']+)'/.exec(mapLine)?.[1] : undefined;
  const vlog = verifierLog(all);
  const reason = verifierReason(vlog);
  if (prog && reason) {
    return new CollectorError(
      'ERR_BPF_VERIFIER',
      `load ${path}: program ${prog}: verifier rejected it: ${reason}`,
      {
        details: vlog.slice(-20),
        cause: err,
      },
    );
  }
  const cause = causeOf(e);
  const details = logLines(e.log);
  const denied = e.errnoName === 'EPERM' ? deniedWithCapabilities('bpf()') : undefined;
  if (prog) {
    const type = programs.find((p) => p.name === prog)?.type;
    const hints: string[] = [];
    if (denied?.seccomp) {
      return new CollectorError('ERR_BPF_LOAD', `load ${path}: program ${prog}: ${cause}: ${denied.cause}`, {
        details: [denied.fix, ...details],
        cause: err,
      });
    }
    if (e.errnoName === 'EPERM' && (type === 'tracing' || type === 'lsm' || type === 'ext')) {
      hints.push(
        `the kernel refused a ${type} program before the verifier ran (its log is empty): this kernel may lack BPF ` +
          'trampolines (fentry/fexit/lsm); libbpf\'s "ulimit -l" hint does not apply where BPF memory is charged to the memory cgroup',
      );
    }
    return new CollectorError('ERR_BPF_LOAD', `load ${path}: program ${prog}: ${cause}`, {
      details: [...hints, ...details],
      cause: err,
    });
  }
  if (denied) {
    return new CollectorError('ERR_BPF_LOAD', `load ${path}: ${cause}: ${denied.cause}`, {
      details: [denied.fix, ...details],
      cause: err,
    });
  }
  const btfFailed = all.some((l) => l.startsWith('failed to parse target BTF'));
  const subject = map
    ? `map ${map}: `
    : btfFailed
      ? `read BTF ${btfPath ?? '/sys/kernel/btf/vmlinux'} for CO-RE: `
      : '';
  return new CollectorError('ERR_BPF_LOAD', `load ${path}: ${subject}${cause}`, { details, cause: err });
}

// ---------------------------------------------------------------------------
// Spec.

/** Open an object file as a spec: nothing is in the kernel until load(). */
export function openObject(path: string, opts: OpenOptions = {}): ObjectSpec {
  const addon = native();
  let handle: NativeObjectHandle;
  try {
    handle =
      opts.btfPath === undefined ? new addon.NativeObject(path) : new addon.NativeObject(path, opts.btfPath);
  } catch (err) {
    throw externError(`open ${path}`, err) ?? fail('ERR_BPF_OPEN', `open ${path}`, err);
  }
  return new Spec(path, handle, opts.btfPath);
}

class Spec implements ObjectSpec {
  readonly path: string;
  #handle: NativeObjectHandle;
  #consumed = false;
  #btfPath: string | undefined;

  constructor(path: string, handle: NativeObjectHandle, btfPath: string | undefined) {
    this.path = path;
    this.#handle = handle;
    this.#btfPath = btfPath;
  }

  #live(what: string): NativeObjectHandle {
    if (this.#consumed || this.#handle.closed) throw closedError(`${what} ${this.path}`);
    return this.#handle;
  }

  programs(): ProgramInfo[] {
    return this.#live('list programs of').programs().map(programInfo);
  }

  maps(): MapInfo[] {
    return this.#live('list maps of').maps().map(mapInfo);
  }

  globals(): { readonly name: string; readonly size: number }[] {
    return this.#live('list globals of')
      .globals()
      .map((g) => ({ name: g.name, size: g.size }));
  }

  setGlobal(name: string, value: number | bigint | boolean | Buffer): void {
    const what = `set global ${name} of ${this.path}`;
    const handle = this.#live(`set global ${name} of`);
    const globals = handle.globals();
    const g = globals.find((x) => x.name === name);
    if (!g) {
      const known = globals.map((x) => x.name).join(', ') || 'none';
      throw new CollectorError(
        'ERR_BPF_OPEN',
        `${what}: no const volatile global of that name (the object has: ${known})`,
      );
    }
    const bytes = encodeGlobal(what, value, g.size);
    try {
      handle.setGlobal(name, bytes);
    } catch (err) {
      throw fail('ERR_BPF_OPEN', what, err);
    }
  }

  setAutoload(program: string, autoload: boolean): void {
    const what = `set autoload of program ${program} in ${this.path}`;
    const handle = this.#live(`set autoload of program ${program} in`);
    try {
      handle.setAutoload(program, autoload);
    } catch (err) {
      const e = asNative(err);
      if (e.state === 'no-program') {
        const known = handle
          .programs()
          .map((p) => p.name)
          .join(', ');
        throw new CollectorError(
          'ERR_BPF_OPEN',
          `${what}: no program of that name (the object has: ${known})`,
        );
      }
      throw fail('ERR_BPF_OPEN', what, err);
    }
  }

  load(): BpfObject {
    const handle = this.#live('load');
    const programs = handle.programs().map(programInfo);
    this.#consumed = true;
    try {
      handle.load();
    } catch (err) {
      handle.close();
      throw loadError(this.path, err, programs, this.#btfPath);
    }
    return new LoadedObject(this.path, handle);
  }

  close(): void {
    if (this.#consumed) return;
    this.#consumed = true;
    this.#handle.close();
  }
}

function programInfo(p: ProgramInfo): ProgramInfo {
  const live =
    p.id === undefined
      ? {}
      : { id: p.id, tag: p.tag, runCount: p.runCount, runTimeNs: p.runTimeNs, jitedLen: p.jitedLen };
  return { name: p.name, section: p.section, type: p.type, autoload: p.autoload, ...live };
}

function mapInfo(m: NativeMapInfo): MapInfo {
  return {
    name: m.name,
    type: m.type,
    keySize: m.keySize,
    valueSize: m.valueSize,
    maxEntries: m.maxEntries,
    perCpu: m.perCpu,
    numCpus: m.numCpus,
    valueStride: m.valueStride,
  };
}

/** Little-endian bytes of a global's value, in exactly the variable's size. */
function encodeGlobal(what: string, value: number | bigint | boolean | Buffer, size: number): Buffer {
  if (Buffer.isBuffer(value)) {
    if (value.length !== size) {
      throw new CollectorError(
        'ERR_BPF_OPEN',
        `${what}: the global is ${size} bytes, the value ${value.length}`,
      );
    }
    return value;
  }
  let big: bigint;
  if (typeof value === 'boolean') big = value ? 1n : 0n;
  else if (typeof value === 'bigint') big = value;
  else if (Number.isSafeInteger(value)) big = BigInt(value);
  else throw new CollectorError('ERR_BPF_OPEN', `${what}: expected an integer, got ${value}`);
  const bits = BigInt(size * 8);
  const min = -(1n << (bits - 1n));
  const max = (1n << bits) - 1n;
  if (big < min || big > max) {
    throw new CollectorError('ERR_BPF_OPEN', `${what}: ${big} does not fit in the global's ${size} bytes`);
  }
  let u = BigInt.asUintN(size * 8, big);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) {
    out[i] = Number(u & 0xffn);
    u >>= 8n;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Loaded object.

class LoadedObject implements BpfObject {
  readonly path: string;
  #handle: NativeObjectHandle;
  #mapInfos: NativeMapInfo[];
  #maps = new Map<string, LiveMap>();
  #rings = new Set<LiveRing | LivePerf>();
  #closed = false;

  constructor(path: string, handle: NativeObjectHandle) {
    this.path = path;
    this.#handle = handle;
    this.#mapInfos = handle.maps();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #live(what: string): NativeObjectHandle {
    if (this.#closed) throw closedError(what);
    return this.#handle;
  }

  programs(): ProgramInfo[] {
    return this.#live(`list programs of ${this.path}`).programs().map(programInfo);
  }

  maps(): MapInfo[] {
    this.#live(`list maps of ${this.path}`);
    return this.#mapInfos.map(mapInfo);
  }

  map(name: string): BpfMap {
    this.#live(`open map ${name} of ${this.path}`);
    const cached = this.#maps.get(name);
    if (cached) return cached;
    const index = this.#mapInfos.findIndex((m) => m.name === name);
    if (index < 0) {
      const known = this.#mapInfos
        .filter((m) => !m.internal)
        .map((m) => m.name)
        .join(', ');
      throw new CollectorError(
        'ERR_BPF_MAP',
        `open map ${name} of ${this.path}: no map of that name (the object has: ${known})`,
      );
    }
    const live = new LiveMap(this, this.#handle, index, mapInfo(this.#mapInfos[index] as NativeMapInfo));
    this.#maps.set(name, live);
    return live;
  }

  attach(programs?: readonly string[]): AttachResult[] {
    const handle = this.#live(`attach programs of ${this.path}`);
    const all = handle.programs();
    const names = programs ?? all.filter((p) => p.autoload).map((p) => p.name);
    return names.map((name) => {
      const section = all.find((p) => p.name === name)?.section ?? '';
      return this.#attachOne(name, section, () => handle.attach(name));
    });
  }

  attachUsdt(program: string, binaryPath: string, provider: string, name: string, pid = -1): AttachResult {
    const handle = this.#live(`attach program ${program} of ${this.path}`);
    const section = this.#sectionOf(handle, program);
    if (!binaryPath.startsWith('/')) {
      return notAttached(program, section, `binary path must be absolute, got "${binaryPath}"`);
    }
    return this.#attachOne(program, section, () =>
      handle.attachUsdt(program, binaryPath, provider, name, pid),
    );
  }

  attachUprobe(
    program: string,
    binaryPath: string,
    func: string,
    opts: { retprobe?: boolean; pid?: number } = {},
  ): AttachResult {
    const handle = this.#live(`attach program ${program} of ${this.path}`);
    const section = this.#sectionOf(handle, program);
    return this.#attachOne(program, section, () =>
      handle.attachUprobe(program, binaryPath, func, opts.retprobe ?? false, opts.pid ?? -1),
    );
  }

  #sectionOf(handle: NativeObjectHandle, program: string): string {
    return handle.programs().find((p) => p.name === program)?.section ?? '';
  }

  #attachOne(program: string, section: string, call: () => NativeAttach): AttachResult {
    let r: NativeAttach;
    try {
      r = call();
    } catch (err) {
      const e = asNative(err);
      if (e.state === 'closed') throw closedError(`attach program ${program} of ${this.path}`);
      const reason =
        e.state === 'no-program'
          ? 'no program of that name'
          : e.state === 'not-loaded'
            ? 'program was not loaded (autoload is off)'
            : causeOf(e);
      return notAttached(program, section, reason, e.errnoName, logLines(e.log, true));
    }
    if (r.attached) return { program, section, attached: true, log: logLines(r.log, true) };
    const denied = r.errnoName === 'EPERM' ? deniedWithCapabilities('bpf() or perf_event_open()') : undefined;
    const error = noPmu(section, r.errnoName)
      ? `${NO_PMU}: ${r.errnoText ?? 'failed'}`
      : denied
        ? `${r.errnoText ?? 'EPERM'}: ${denied.cause}; ${denied.fix}`
        : (r.errnoText ?? 'failed');
    return notAttached(program, section, error, r.errnoName, logLines(r.log, true));
  }

  detach(program: string): void {
    this.#live(`detach program ${program} of ${this.path}`).detach(program);
  }

  iterRead(program: string): Buffer {
    const what = `read iterator ${program} of ${this.path}`;
    const handle = this.#live(what);
    try {
      return handle.iterRead(program);
    } catch (err) {
      throw fail('ERR_BPF_ITER', what, err);
    }
  }

  testRun(program: string, ctx?: Buffer): { retval: number; durationNs: number } {
    const what = `test-run program ${program} of ${this.path}`;
    const handle = this.#live(what);
    try {
      return ctx === undefined ? handle.testRun(program) : handle.testRun(program, ctx);
    } catch (err) {
      throw fail('ERR_BPF_TEST_RUN', what, err);
    }
  }

  ringBuffer(mapName: string, onRecord: RecordHandler, options: RingBufferOptions = {}): RingBuffer {
    const what = `open ring buffer ${mapName} of ${this.path}`;
    const handle = this.#live(what);
    const index = this.#mapInfos.findIndex((m) => m.name === mapName);
    const info = this.#mapInfos[index];
    if (!info) throw new CollectorError('ERR_BPF_MAP', `${what}: no map of that name`);
    if (info.type !== 'ringbuf')
      throw new CollectorError('ERR_BPF_MAP', `${what}: map is a ${info.type}, not a ringbuf`);
    const ring = new LiveRing(handle, index, info.maxEntries, onRecord, options, what, (r) =>
      this.#rings.delete(r),
    );
    this.#rings.add(ring);
    return ring;
  }

  perfBuffer(mapName: string, onRecord: RecordHandler, options: PerfBufferOptions = {}): PerfBuffer {
    const what = `open perf buffer ${mapName} of ${this.path}`;
    const handle = this.#live(what);
    const index = this.#mapInfos.findIndex((m) => m.name === mapName);
    const info = this.#mapInfos[index];
    if (!info) throw new CollectorError('ERR_BPF_MAP', `${what}: no map of that name`);
    if (info.type !== 'perf_event_array')
      throw new CollectorError('ERR_BPF_MAP', `${what}: map is a ${info.type}, not a perf_event_array`);
    const pages = options.pageCount ?? 64;
    if (!Number.isInteger(pages) || pages < 1 || (pages & (pages - 1)) !== 0)
      throw new CollectorError('ERR_BPF_MAP', `${what}: page count must be a power of two, got ${pages}`);
    const perf = new LivePerf(handle, index, pages, onRecord, options, what, (r) => this.#rings.delete(r));
    this.#rings.add(perf);
    return perf;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of [...this.#rings]) r.close();
    this.#rings.clear();
    this.#handle.close();
  }

  /** @internal for LiveMap: message prefix when closed. */
  checkOpen(what: string): void {
    this.#live(what);
  }
}

const CAP_SYS_ADMIN = 21n;
const CAP_BPF = 39n;

/**
 * EPERM although the process holds CAP_BPF (or CAP_SYS_ADMIN): not a missing
 * capability but a filter in front of the system call — a seccomp profile (container
 * runtimes' default profiles refuse bpf() and perf_event_open()) or an LSM.
 * `seccomp` says whether this process runs under a seccomp filter (/proc/self/status).
 */
function deniedWithCapabilities(call: string): { cause: string; fix: string; seccomp: boolean } | undefined {
  const eff = native().capsGet().effective;
  if (((eff >> CAP_BPF) & 1n) === 0n && ((eff >> CAP_SYS_ADMIN) & 1n) === 0n) return undefined;
  let filters = 0;
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    filters = Number(
      /^Seccomp_filters:\s*(\d+)/m.exec(status)?.[1] ?? (/^Seccomp:\s*2/m.test(status) ? 1 : 0),
    );
  } catch {
    // no procfs: say both
  }
  const held = ((eff >> CAP_BPF) & 1n) === 1n ? 'CAP_BPF' : 'CAP_SYS_ADMIN';
  return filters > 0
    ? {
        seccomp: true,
        cause: `refused although the process holds ${held}: its seccomp filter (${filters} installed) or an LSM likely denies ${call}`,
        fix:
          'fix: allow bpf and perf_event_open in the seccomp profile — the project ships one (deploy/seccomp/ebpf-collector.json; ' +
          'Kubernetes: seccompProfile Localhost profiles/ebpf-collector.json, or Unconfined as a fallback; podman/docker: --security-opt seccomp=…)',
      }
    : {
        seccomp: false,
        cause: `refused although the process holds ${held} and runs without a seccomp filter: an LSM (SELinux, AppArmor, the BPF LSM) or kernel lockdown likely denies ${call}`,
        fix: 'fix: check the audit log (ausearch -m avc, dmesg) and the LSM policy for bpf and perfmon permissions',
      };
}

/** The reason a hardware perf event fails where the kernel has no PMU (a VM without vPMU). */
export const NO_PMU = 'no hardware PMU (virtualised?)';

/** perf_event/type=0 (hardware) or 3 (hardware cache) refused with ENOENT/EOPNOTSUPP/ENODEV. */
function noPmu(section: string, errno: string | undefined): boolean {
  const type = /^perf_event\/(?:.*,)?type=(\w+)/.exec(section)?.[1];
  const hw = type !== undefined && (Number(type) === 0 || Number(type) === 3);
  return hw && (errno === 'ENOENT' || errno === 'EOPNOTSUPP' || errno === 'ENODEV');
}

function notAttached(
  program: string,
  section: string,
  error: string,
  errno?: string,
  log: readonly string[] = [],
): AttachResult {
  return errno === undefined
    ? { program, section, attached: false, error, log }
    : { program, section, attached: false, error, errno, log };
}

// ---------------------------------------------------------------------------
// Maps.

const UPDATE_FLAGS = { any: 0, noexist: 1, exist: 2 } as const;

/** Entries the first read of a map makes room for; buffers then grow to the live count. */
const INITIAL_READ_ENTRIES = 1024;

/** A loaded map. Whole-map reads reuse one pair of buffers that grows to the live count. */
class LiveMap implements BpfMap {
  readonly info: MapInfo;
  #owner: LoadedObject;
  #handle: NativeObjectHandle;
  #index: number;
  #keys: Buffer = Buffer.alloc(0);
  #values: Buffer = Buffer.alloc(0);

  constructor(owner: LoadedObject, handle: NativeObjectHandle, index: number, info: MapInfo) {
    this.#owner = owner;
    this.#handle = handle;
    this.#index = index;
    this.info = info;
  }

  #what(verb: string): string {
    return `${verb} map ${this.info.name}`;
  }

  #checkSize(verb: string, name: string, buf: Buffer, want: number): void {
    if (buf.length !== want) {
      throw new CollectorError(
        'ERR_BPF_MAP',
        `${this.#what(verb)}: ${name} is ${buf.length} bytes, the map's ${name} size is ${want}`,
      );
    }
  }

  readAll(): MapBatch {
    const what = this.#what('read');
    this.#owner.checkOpen(what);
    const { keySize, valueStride, type } = this.info;
    if (type === 'ringbuf' || keySize === 0 || valueStride === 0) {
      throw new CollectorError(
        'ERR_BPF_MAP',
        `${what}: a ${type} map has no entries to read (use ringBuffer())`,
      );
    }
    if (this.#keys.length === 0) this.#grow(Math.min(this.info.maxEntries, INITIAL_READ_ENTRIES) || 1, 0);
    let n: number;
    try {
      n = this.#handle.mapRead(this.#index, this.#keys, this.#values, 0, false);
      while (n < 0) {
        const have = -1 - n;
        this.#grow(Math.max(2 * this.#capacity(), have + 1), have);
        n = this.#handle.mapRead(this.#index, this.#keys, this.#values, have, true);
      }
    } catch (err) {
      throw fail('ERR_BPF_MAP', what, err);
    }
    return {
      count: n,
      keys: this.#keys.subarray(0, n * keySize),
      values: this.#values.subarray(0, n * valueStride),
      method: this.#handle.mapReadMethod(this.#index),
    };
  }

  #capacity(): number {
    return Math.floor(this.#keys.length / this.info.keySize);
  }

  /** Room for `entries` entries, keeping the first `keep`. */
  #grow(entries: number, keep: number): void {
    const keys = Buffer.allocUnsafe(entries * this.info.keySize);
    const values = Buffer.allocUnsafe(entries * this.info.valueStride);
    this.#keys.copy(keys, 0, 0, keep * this.info.keySize);
    this.#values.copy(values, 0, 0, keep * this.info.valueStride);
    this.#keys = keys;
    this.#values = values;
  }

  lookup(key: Buffer): Buffer | undefined {
    const what = this.#what('look up in');
    this.#owner.checkOpen(what);
    this.#checkSize('look up in', 'key', key, this.info.keySize);
    const out = Buffer.alloc(this.info.valueStride);
    try {
      return this.#handle.mapLookup(this.#index, key, out) ? out : undefined;
    } catch (err) {
      throw fail('ERR_BPF_MAP', what, err);
    }
  }

  update(key: Buffer, value: Buffer, flags: 'any' | 'noexist' | 'exist' = 'any'): void {
    const what = this.#what('update');
    this.#owner.checkOpen(what);
    this.#checkSize('update', 'key', key, this.info.keySize);
    this.#checkSize('update', 'value', value, this.info.valueStride);
    try {
      this.#handle.mapUpdate(this.#index, key, value, UPDATE_FLAGS[flags]);
    } catch (err) {
      throw fail('ERR_BPF_MAP', what, err);
    }
  }

  updateBatch(keys: Buffer, values: Buffer, flags: 'any' | 'noexist' | 'exist' = 'any'): number {
    const what = this.#what('batch update');
    this.#owner.checkOpen(what);
    const count = keys.length / this.info.keySize;
    if (!Number.isInteger(count) || values.length !== count * this.info.valueStride) {
      throw new CollectorError(
        'ERR_BPF_MAP',
        `${what}: ${keys.length} key bytes and ${values.length} value bytes are not whole entries of ${this.info.keySize} + ${this.info.valueStride} bytes`,
      );
    }
    if (count === 0) return 0;
    try {
      return this.#handle.mapUpdateBatch(this.#index, keys, values, count, UPDATE_FLAGS[flags]);
    } catch (err) {
      throw fail('ERR_BPF_MAP', what, err);
    }
  }

  delete(key: Buffer): boolean {
    const what = this.#what('delete from');
    this.#owner.checkOpen(what);
    this.#checkSize('delete from', 'key', key, this.info.keySize);
    try {
      return this.#handle.mapDelete(this.#index, key);
    } catch (err) {
      throw fail('ERR_BPF_MAP', what, err);
    }
  }
}

// ---------------------------------------------------------------------------
// Ring buffers.

/** Bytes staged per JS call; records larger than this come one by one. */
const STAGING_BYTES = 256 * 1024;
const STAGING_RECORDS = 8192;

/**
 * An event buffer being consumed (ring or perf): records are staged natively and
 * delivered in batches; exceptions thrown by the handler are counted, never
 * propagated; a drain timer backs up the poll handle. Subclasses open, consume
 * and free the native side.
 */
abstract class LiveEventBuffer {
  delivered = 0;
  handlerErrors = 0;
  lastHandlerError: unknown = undefined;
  protected readonly handle: NativeObjectHandle;
  protected id = -1;
  protected closed = false;
  private timer: DrainTimer | undefined;
  private readonly kind: string;

  constructor(handle: NativeObjectHandle, kind: string) {
    this.handle = handle;
    this.kind = kind;
  }

  /** Open the native side with the shared staging and delivery, then start the drain timer. */
  protected open(
    stagingBytes: number,
    onRecord: RecordHandler,
    drainIntervalMs: number | undefined,
    what: string,
    openNative: (
      onBatch: (count: number) => void,
      deliver: (record: Buffer) => void,
      staging: Buffer,
      lens: Uint32Array,
    ) => number,
  ): void {
    const staging = Buffer.alloc(stagingBytes);
    const lens = new Uint32Array(STAGING_RECORDS);
    const deliver = (record: Buffer): void => {
      if (this.closed) return; // closed by an earlier handler call of this drain
      this.delivered++;
      try {
        onRecord(record);
      } catch (err) {
        this.handlerErrors++;
        this.lastHandlerError = err;
      }
    };
    const onBatch = (count: number): void => {
      let at = 0;
      for (let i = 0; i < count && !this.closed; i++) {
        const len = lens[i] as number;
        deliver(staging.subarray(at, at + len));
        at += (len + 7) & ~7;
      }
    };
    try {
      this.id = openNative(onBatch, deliver, staging, lens);
    } catch (err) {
      throw fail('ERR_BPF_MAP', what, err);
    }
    this.timer = drainTimer(drainIntervalMs ?? 50, () => {
      try {
        return this.consume();
      } catch (err) {
        // Do not crash after start: a failing drain is counted like a handler error.
        this.handlerErrors++;
        this.lastHandlerError = err;
        return 0;
      }
    });
  }

  protected abstract consumeNative(): void;
  protected abstract closeNative(): void;

  consume(): number {
    if (this.closed) return 0;
    const before = this.delivered;
    try {
      this.consumeNative();
    } catch (err) {
      throw fail('ERR_BPF_MAP', `consume ${this.kind}`, err);
    }
    return this.delivered - before;
  }

  close(): void {
    if (this.closed) return;
    this.beforeClose();
    this.closed = true;
    this.timer?.stop();
    this.timer = undefined;
    this.closeNative();
  }

  protected beforeClose(): void {}
}

/** A ring buffer being consumed. */
class LiveRing extends LiveEventBuffer implements RingBuffer {
  readonly #onClose: (r: LiveRing) => void;

  constructor(
    handle: NativeObjectHandle,
    index: number,
    ringBytes: number,
    onRecord: RecordHandler,
    options: RingBufferOptions,
    what: string,
    onClose: (r: LiveRing) => void,
  ) {
    super(handle, 'ring buffer');
    this.#onClose = onClose;
    const stagingBytes = Math.min(STAGING_BYTES, Math.max(4096, ringBytes));
    this.open(stagingBytes, onRecord, options.drainIntervalMs, what, (onBatch, deliver, staging, lens) =>
      handle.ringOpen(index, onBatch, deliver, staging, lens, options.poll ?? true),
    );
  }

  protected consumeNative(): void {
    this.handle.ringConsume(this.id);
  }

  protected closeNative(): void {
    this.handle.ringClose(this.id);
    this.#onClose(this);
  }
}

/**
 * A perf event array being consumed: the ring buffer's staging and handler
 * discipline, polled through libuv on perf_buffer__epoll_fd plus a drain timer.
 */
class LivePerf extends LiveEventBuffer implements PerfBuffer {
  #lostAtClose = 0;
  readonly #onClose: (r: LivePerf) => void;

  constructor(
    handle: NativeObjectHandle,
    index: number,
    pageCount: number,
    onRecord: RecordHandler,
    options: PerfBufferOptions,
    what: string,
    onClose: (r: LivePerf) => void,
  ) {
    super(handle, 'perf buffer');
    this.#onClose = onClose;
    this.open(STAGING_BYTES, onRecord, options.drainIntervalMs, what, (onBatch, deliver, staging, lens) =>
      handle.perfOpen(index, pageCount, onBatch, deliver, staging, lens, options.poll ?? true),
    );
  }

  get lost(): number {
    if (this.closed) return this.#lostAtClose;
    return this.handle.perfStats(this.id).lost ?? 0;
  }

  protected consumeNative(): void {
    this.handle.perfConsume(this.id);
  }

  protected override beforeClose(): void {
    this.#lostAtClose = this.lost;
  }

  protected closeNative(): void {
    this.handle.perfClose(this.id);
    this.#onClose(this);
  }
}

// ---------------------------------------------------------------------------
// Test and diagnostic helpers.

/** errno by name and meaning: `EPERM (operation not permitted)`. */
export function errnoText(errno: number): string {
  return native().errnoText(errno);
}

/** libbpf's version, e.g. `v1.1`. */
export function libbpfVersion(): string {
  return native().libbpfVersion();
}

/** libbpf_num_possible_cpus(): the CPU count per-CPU map values are laid out for. */
export function numPossibleCpus(): number {
  return native().numPossibleCpus;
}

/** For tests: `n` real getpid(2) system calls from this thread; returns its thread id. */
export function syscallGetpid(n: number): number {
  return native().syscallGetpid(n);
}

/** For tests: `n` real getpgid(arg) system calls from this thread; returns its thread id. */
export function syscallGetpgid(n: number, arg: number): number {
  return native().syscallGetpgid(n, arg);
}

/** For uprobe tests: calls the addon's exported `ebpf_native_uprobe_target` function `n` times. */
export function callUprobeTarget(n: number): number {
  return native().callUprobeTarget(n);
}

/**
 * ebpf_exporter's post-attach hook: calls the addon's exported `post_attach_mark()`
 * once, so programs in `SEC("uprobe//proc/self/exe:post_attach_mark")` (attached to
 * that function in this process's addon) run. The agent calls it once after every
 * receiver has started. A no-op while the addon is not loaded.
 */
export function postAttachMark(): void {
  // Without the addon loaded no object was opened, so nothing can be attached to the mark.
  addon?.postAttachMark();
}

/** glibc's mallinfo2(3), bytes: heap obtained with brk/arenas, mmapped chunks, free in the heap. */
export interface MallocStats {
  readonly heapBytes: number;
  readonly mmappedBytes: number;
  readonly freeBytes: number;
}

export function mallocStats(): MallocStats {
  return native().mallocStats();
}

/** glibc malloc thresholds (bytes) while programs load, and after. */
const STARTUP_MMAP_THRESHOLD = 32 * 1024 * 1024;
const STARTUP_TRIM_THRESHOLD = 256 * 1024 * 1024;
const STEADY_MALLOC_THRESHOLD = 128 * 1024;

/**
 * glibc malloc for a long-running agent, in two phases. libbpf parses the kernel's
 * BTF (megabytes) at every object load and frees it after. If that memory goes back
 * to the kernel, the next load maps and faults in fresh pages: ~55 ms a load here,
 * against ~5–10 ms when it reuses the heap. So `startup` keeps freed memory in the
 * heap (large mmap and trim thresholds; at most two arenas) and `steady` (every
 * program loaded) hands the freed heap back and fixes both thresholds at 128 KiB,
 * so a scrape's garbage does not stay resident for good. A user who set MALLOC_* or
 * GLIBC_TUNABLES keeps their own settings: nothing is changed then. Returns whether
 * the settings were applied.
 */
export function tuneMalloc(phase: 'startup' | 'steady', env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.GLIBC_TUNABLES !== undefined || Object.keys(env).some((k) => k.startsWith('MALLOC_'))) return false;
  const a = native();
  if (phase === 'startup') return a.mallocTune(STARTUP_MMAP_THRESHOLD, STARTUP_TRIM_THRESHOLD, 2);
  a.mallocTrim();
  return a.mallocTune(STEADY_MALLOC_THRESHOLD, STEADY_MALLOC_THRESHOLD, 0);
}

/** The exported function callUprobeTarget calls, in the file ADDON_PATH. */
export const UPROBE_TARGET = 'ebpf_native_uprobe_target';

export interface DrainTimer {
  stop(): void;
}

/** Longest wait between drains of an idle buffer: a 4 MiB ring holds ~0.8 s of 100k records/s. */
const MAX_IDLE_DRAIN_MS = 250;

/**
 * Drain every `baseMs` while records come; an idle buffer is drained at doubling
 * intervals up to MAX_IDLE_DRAIN_MS (never below `baseMs`), so an agent whose
 * programs see no events does not wake 20 times a second. The first drain that
 * finds records returns to `baseMs`. 0 = no timer.
 */
export function drainTimer(baseMs: number, drain: () => number): DrainTimer | undefined {
  if (baseMs <= 0) return undefined;
  const maxMs = Math.max(baseMs, MAX_IDLE_DRAIN_MS);
  let wait = baseMs;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = (): void => {
    wait = drain() > 0 ? baseMs : Math.min(wait * 2, maxMs);
    // A handler may have closed the buffer during the drain.
    if (!stopped) timer = setTimeout(tick, wait);
  };
  timer = setTimeout(tick, wait);
  return {
    stop: () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
