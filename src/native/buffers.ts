/**
 * Ring and perf buffers of a loaded object (native/buffers.cc, with native/ringbuf.cc and
 * native/perfbuf.cc, which also drain them on their own timer).
 */
import type { NativeObjectHandle } from './addon.ts';
import { fail } from './errors.ts';
import type { EventHandler, PerfBuffer, RecordBatch, RecordHandler } from './types.ts';

/** Bytes before each record of a RecordBatch: u32 length, u32 CPU. */
export const RECORD_HEADER_BYTES = 8;

/**
 * Offset of the record after the one at `at` of `length` bytes (RecordBatch). The header's 8
 * bytes are written out: an exported binding read here is a module cell load and a hole check
 * on every record of every loop this is inlined into (V8 does not fold them). Per-record loops
 * copy this function (and RECORD_HEADER_BYTES) into locals before the loop for the same reason.
 */
export function nextRecord(at: number, length: number): number {
  return at + 8 + ((length + 7) & ~7);
}

/** Bytes staged per JS call of a perf buffer (a drain of more records makes several calls); a larger record comes alone. */
export const STAGING_BYTES = 256 * 1024;

const EMPTY = Buffer.alloc(0);

/** Drain period when the caller gives none. */
const DEFAULT_DRAIN_MS = 50;

interface MutableBatch {
  count: number;
  start: number;
  bytes: Buffer;
  view: DataView;
  lost: number;
}

function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** How LiveEventBuffer opens its native side: a ring (read in place) or a perf buffer (staged). */
export type OpenNative =
  | { readonly kind: 'ring buffer'; open(onBatch: NativeBatch, drainMs: number): number }
  | {
      readonly kind: 'perf buffer';
      open(onBatch: NativeBatch, onBig: (record: Buffer) => void, staging: Buffer, drainMs: number): number;
    };

/** The native batch call: `count` records in [offset, offset + length) of the buffer's area. */
type NativeBatch = (count: number, lost: number, offset: number, length: number) => void;

/**
 * An event buffer being consumed (a ring or a perf event array): records are handed over
 * in batches, one JS call per drain that found records (the native timer and poll handle
 * drain without entering JS otherwise); a handler's exceptions are counted, never
 * propagated. A ring's batches are views of the ring's own pages, read-only.
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

  constructor(
    handle: NativeObjectHandle,
    handler: EventHandler,
    drainIntervalMs: number | undefined,
    what: string,
    native: OpenNative,
    onClose: (b: LiveEventBuffer) => void,
  ) {
    this.#handle = handle;
    this.#kind = native.kind;
    this.#onClose = onClose;
    const drainMs = drainIntervalMs ?? DEFAULT_DRAIN_MS;
    try {
      if (native.kind === 'ring buffer') {
        // The area's views are made at the first batch (the id is known then) and kept.
        const batch: MutableBatch = { count: 0, start: 0, bytes: EMPTY, view: viewOf(EMPTY), lost: 0 };
        let area: ArrayBuffer | undefined;
        // A batch sink is called from this function itself: every drain runs two JS frames
        // (this and the sink), not a chain of wrappers.
        const sink = typeof handler === 'function' ? undefined : handler.onBatch;
        const each = typeof handler === 'function' ? this.#eachRecord(handler) : undefined;
        this.#id = native.open((count, lost, offset) => {
          if (area === undefined) {
            area = handle.bufferArea(this.#id);
            batch.bytes = Buffer.from(area);
            batch.view = new DataView(area);
          }
          batch.count = count;
          batch.start = offset;
          batch.lost = lost;
          if (each !== undefined) return each(batch);
          if (this.#closed || count === 0 || sink === undefined) return;
          this.delivered += count;
          try {
            sink(batch);
          } catch (err) {
            this.#failed(err);
          }
        }, drainMs);
      } else {
        const deliver =
          typeof handler === 'function' ? this.#eachRecord(handler) : this.#whole(handler.onBatch);
        const staging = Buffer.alloc(STAGING_BYTES);
        const batch: MutableBatch = { count: 0, start: 0, bytes: staging, view: viewOf(staging), lost: 0 };
        this.#id = native.open(
          (count, lost) => {
            batch.count = count;
            batch.lost = lost;
            deliver(batch);
          },
          (record) => deliver({ count: 1, start: 0, bytes: record, view: viewOf(record), lost: 0 }),
          staging,
          drainMs,
        );
      }
    } catch (err) {
      throw fail('ERR_BPF_MAP', what, err);
    }
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

  /** A record handler: a copy per record (it may keep or write it), each call's exception counted on its own. */
  #eachRecord(onRecord: RecordHandler): (batch: RecordBatch) => void {
    return ({ count, start, bytes, view }) => {
      let at = start;
      for (let i = 0; i < count && !this.#closed; i++) {
        const len = view.getUint32(at, true);
        this.delivered++;
        try {
          onRecord(Buffer.from(bytes.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + len)));
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

  /** Drain timer ticks since open (tests). */
  get timerDrains(): number {
    if (this.#closed) return 0;
    return this.#handle.bufferStats(this.#id).timerDrains ?? 0;
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
    this.#handle.bufferClose(this.#id);
    this.#onClose(this);
  }
}
