// Bounded queue of event records (see events.ts).

/** Bytes of one queue chunk: records are copied into chunks, not allocated one by one. */
const CHUNK_BYTES = 64 * 1024;
const CHUNK_RECORDS = 2048;

interface Chunk {
  readonly buf: Buffer;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  used: number;
  count: number;
  read: number;
}

/**
 * A FIFO of record copies holding at most `capacity` records; a full queue
 * drops the newest or the oldest and counts them. Records are memcpy'd into
 * 64 KiB chunks (no allocation per record); a chunk is released once read.
 * shift() returns a view into a chunk: use it before the next push.
 */
export class RecordQueue {
  private readonly chunks: Chunk[] = [];
  private count = 0;
  dropped = 0;
  readonly capacity: number;
  private readonly dropOldest: boolean;

  constructor(capacity: number, dropOldest: boolean) {
    this.capacity = capacity;
    this.dropOldest = dropOldest;
  }

  get length(): number {
    return this.count;
  }

  /** Copies `record` in (or drops). */
  push(record: Buffer): void {
    this.pushFrom(record, 0, record.length);
  }

  /** Copies the `len` bytes at `at` of `bytes` in (or drops): a record inside a batch. */
  pushFrom(bytes: Buffer, at: number, len: number): void {
    if (this.count >= this.capacity) {
      this.dropped++;
      if (!this.dropOldest) return;
      this.shift();
    }
    let tail = this.chunks[this.chunks.length - 1];
    if (!tail || tail.count === CHUNK_RECORDS || tail.used + len > tail.buf.length) {
      tail = {
        buf: Buffer.allocUnsafe(Math.max(CHUNK_BYTES, len)),
        offsets: new Uint32Array(CHUNK_RECORDS),
        lengths: new Uint32Array(CHUNK_RECORDS),
        used: 0,
        count: 0,
        read: 0,
      };
      this.chunks.push(tail);
    }
    bytes.copy(tail.buf, tail.used, at, at + len);
    tail.offsets[tail.count] = tail.used;
    tail.lengths[tail.count] = len;
    tail.count++;
    tail.used += len;
    this.count++;
  }

  shift(): Buffer | undefined {
    if (this.count === 0) return undefined;
    let head = this.chunks[0] as Chunk;
    while (head.read === head.count) {
      this.chunks.shift();
      head = this.chunks[0] as Chunk;
    }
    const i = head.read++;
    this.count--;
    const at = head.offsets[i] as number;
    // A fully read chunk that is not the tail is released now (the view keeps its memory alive).
    if (head.read === head.count && this.chunks.length > 1) this.chunks.shift();
    return head.buf.subarray(at, at + (head.lengths[i] as number));
  }

  clear(): void {
    this.chunks.length = 0;
    this.count = 0;
  }
}
