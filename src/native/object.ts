/**
 * Object files: the spec (open, set globals, autoload) and the loaded object (native/object.cc,
 * native/program.cc, native/attach.cc). Turns the addon's marshalling into the contract of ./types.ts: states
 * (spec → object → closed), names, error codes and messages.
 */
import { CollectorError } from '../errors.ts';
import { MAX_OBJECT_BYTES, namedFileProblem } from '../config/files.ts';
import { native, type NativeAttach, type NativeMapInfo, type NativeObjectHandle } from './addon.ts';
import {
  asNative,
  causeOf,
  closedError,
  deniedWithCapabilities,
  externError,
  fail,
  loadError,
  logLines,
  NO_PMU,
  noPmu,
  notAttached,
} from './errors.ts';
import { LiveMap } from './map.ts';
import { LiveEventBuffer } from './buffers.ts';
import type {
  AttachResult,
  BpfMap,
  BpfObject,
  MapInfo,
  ObjectSpec,
  OpenOptions,
  PerfBuffer,
  PerfBufferOptions,
  ProgramInfo,
  EventHandler,
  RingBuffer,
  RingBufferOptions,
} from './types.ts';

// ---------------------------------------------------------------------------
// Spec.

/** Open an object file as a spec: nothing is in the kernel until load(). */
export function openObject(path: string, opts: OpenOptions = {}): ObjectSpec {
  // libbpf reads the object (and BTF) whole and blocks on a FIFO: regular files of a bounded size only.
  for (const [what, file] of [
    ['open', path],
    ['open BTF', opts.btfPath],
  ] as const) {
    const problem = file === undefined ? undefined : namedFileProblem(file, MAX_OBJECT_BYTES);
    // A missing file is libbpf's to report (its log names what it tried).
    if (problem !== undefined && !problem.includes('(ENOENT)'))
      throw new CollectorError('ERR_BPF_OPEN', `${what} ${file}: ${problem}`);
  }
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
    ...(m.id !== undefined ? { id: m.id } : {}),
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
  #buffers = new Set<LiveEventBuffer>();
  /** An event buffer was opened: its handles' close callbacks are what released() waits for. */
  #hadBuffers = false;
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

  ringBuffer(mapName: string, handler: EventHandler, options: RingBufferOptions = {}): RingBuffer {
    const what = `open ring buffer ${mapName} of ${this.path}`;
    const handle = this.#live(what);
    const index = this.#mapInfos.findIndex((m) => m.name === mapName);
    const info = this.#mapInfos[index];
    if (!info) throw new CollectorError('ERR_BPF_MAP', `${what}: no map of that name`);
    if (info.type !== 'ringbuf')
      throw new CollectorError('ERR_BPF_MAP', `${what}: map is a ${info.type}, not a ringbuf`);
    return this.#track(
      new LiveEventBuffer(
        handle,
        handler,
        options.drainIntervalMs,
        what,
        {
          kind: 'ring buffer',
          open: (onBatch, drainMs) => handle.ringOpen(index, onBatch, drainMs, options.poll ?? true),
        },
        (b) => this.#buffers.delete(b),
      ),
    );
  }

  perfBuffer(mapName: string, handler: EventHandler, options: PerfBufferOptions = {}): PerfBuffer {
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
    return this.#track(
      new LiveEventBuffer(
        handle,
        handler,
        options.drainIntervalMs,
        what,
        {
          kind: 'perf buffer',
          open: (onBatch, onBig, staging, drainMs) =>
            handle.perfOpen(index, pages, onBatch, onBig, staging, drainMs, options.poll ?? true),
        },
        (b) => this.#buffers.delete(b),
      ),
    );
  }

  #track(b: LiveEventBuffer): LiveEventBuffer {
    this.#buffers.add(b);
    this.#hadBuffers = true;
    return b;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const b of [...this.#buffers]) b.close();
    this.#buffers.clear();
    this.#handle.close();
  }

  released(): Promise<void> {
    // uv_close callbacks run in the close phase of the loop turn that closed the handles, after
    // its check phase: an immediate queued from an immediate runs in the next turn, after it.
    if (!this.#hadBuffers) return Promise.resolve();
    return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
  }

  /** @internal for LiveMap: message prefix when closed. */
  checkOpen(what: string): void {
    this.#live(what);
  }
}
