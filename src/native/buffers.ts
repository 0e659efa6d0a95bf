/**
 * Ring and perf buffers of a loaded object, and the timer that drains them (native/ringbuf.cc,
 * native/perfbuf.cc).
 */
import type { NativeObjectHandle } from './addon.ts';
import { fail } from './errors.ts';
import type { PerfBuffer, PerfBufferOptions, RecordHandler, RingBuffer, RingBufferOptions } from './types.ts';

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
export class LiveRing extends LiveEventBuffer implements RingBuffer {
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
export class LivePerf extends LiveEventBuffer implements PerfBuffer {
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
