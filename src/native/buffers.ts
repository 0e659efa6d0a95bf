/**
 * Ring and perf buffers of a loaded object, and the timer that drains them
 * (native/buffers.cc, with native/ringbuf.cc and native/perfbuf.cc).
 */
import type { NativeObjectHandle } from './addon.ts';
import { fail } from './errors.ts';
import type { EventHandler, PerfBuffer, RecordBatch, RecordHandler } from './types.ts';

/** Bytes before each record of a RecordBatch: u32 length, u32 CPU. */
export const RECORD_HEADER_BYTES = 8;

/** Offset of the record after the one at `at` of `length` bytes (RecordBatch). */
export function nextRecord(at: number, length: number): number {
  return at + RECORD_HEADER_BYTES + ((length + 7) & ~7);
}

/** Bytes staged per JS call (a drain of more records makes several calls); a larger record comes alone. */
export const STAGING_BYTES = 256 * 1024;

interface MutableBatch {
  count: number;
  bytes: Buffer;
  view: DataView;
  lost: number;
}

function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * An event buffer being consumed (a ring or a perf event array): records are
 * staged natively and handed over in batches, one JS call per drain; a
 * handler's exceptions are counted, never propagated; a drain timer backs up
 * the poll handle. `openNative` opens the native side and returns its id.
 */
export class LiveEventBuffer implements PerfBuffer {
  delivered = 0;
  handlerErrors = 0;
  lastHandlerError: unknown = undefined;
  readonly #handle: NativeObjectHandle;
  readonly #kind: string;
  readonly #onClose: (b: LiveEventBuffer) => void;
  #id = -1;
  #closed = false;
  #lostAtClose = 0;
  #timer: DrainTimer | undefined;

  constructor(
    handle: NativeObjectHandle,
    kind: 'ring buffer' | 'perf buffer',
    stagingBytes: number,
    handler: EventHandler,
    drainIntervalMs: number | undefined,
    what: string,
    openNative: (
      onBatch: (count: number, lost: number) => void,
      onBig: (record: Buffer) => void,
      staging: Buffer,
    ) => number,
    onClose: (b: LiveEventBuffer) => void,
  ) {
    this.#handle = handle;
    this.#kind = kind;
    this.#onClose = onClose;
    const staging = Buffer.alloc(stagingBytes);
    const batch: MutableBatch = { count: 0, bytes: staging, view: viewOf(staging), lost: 0 };
    const deliver = typeof handler === 'function' ? this.#eachRecord(handler) : this.#whole(handler.onBatch);
    const onBatch = (count: number, lost: number): void => {
      batch.count = count;
      batch.lost = lost;
      deliver(batch);
    };
    const onBig = (record: Buffer): void => {
      deliver({ count: 1, bytes: record, view: viewOf(record), lost: 0 });
    };
    try {
      this.#id = openNative(onBatch, onBig, staging);
    } catch (err) {
      throw fail('ERR_BPF_MAP', what, err);
    }
    this.#timer = drainTimer(drainIntervalMs ?? 50, () => {
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

  #failed(err: unknown): void {
    this.handlerErrors++;
    this.lastHandlerError = err;
  }

  /** A batch handler: one call per batch. */
  #whole(onBatch: (batch: RecordBatch) => void): (batch: RecordBatch) => void {
    return (batch) => {
      if (this.#closed || batch.count === 0) return;
      this.delivered += batch.count;
      try {
        onBatch(batch);
      } catch (err) {
        this.#failed(err);
      }
    };
  }

  /** A record handler: a view per record, each call's exception counted on its own. */
  #eachRecord(onRecord: RecordHandler): (batch: RecordBatch) => void {
    return ({ count, bytes, view }) => {
      let at = 0;
      for (let i = 0; i < count && !this.#closed; i++) {
        const len = view.getUint32(at, true);
        this.delivered++;
        try {
          onRecord(bytes.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + len));
        } catch (err) {
          this.#failed(err);
        }
        at = nextRecord(at, len);
      }
    };
  }

  /** Records the kernel lost (perf lost samples) since open; 0 for a ring. */
  get lost(): number {
    if (this.#closed) return this.#lostAtClose;
    return this.#handle.bufferStats(this.#id).lost ?? 0;
  }

  /** Drain now; returns records delivered. */
  consume(): number {
    if (this.#closed) return 0;
    const before = this.delivered;
    try {
      this.#handle.bufferConsume(this.#id);
    } catch (err) {
      throw fail('ERR_BPF_MAP', `consume ${this.#kind}`, err);
    }
    return this.delivered - before;
  }

  close(): void {
    if (this.#closed) return;
    this.#lostAtClose = this.lost;
    this.#closed = true;
    this.#timer?.stop();
    this.#timer = undefined;
    this.#handle.bufferClose(this.#id);
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
