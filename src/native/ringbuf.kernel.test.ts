/** Ring buffers on the real kernel: exact delivery, order, wake-ups via uv_poll, throwing handlers, close. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  nextRecord,
  RECORD_HEADER_BYTES,
  syscallGetpgid,
  syscallGetpid,
  type BpfObject,
  type RecordBatch,
} from './index.ts';
import { MARKER, loadAddonTest, u32, waitFor } from './kernel-fixtures.ts';

/** n marked getpgid calls: each makes the attached ring programs submit one record. */
function trigger(n: number): void {
  assert.equal(syscallGetpgid(n, MARKER), process.pid);
}

interface Event {
  tgid: number;
  tid: number;
  seq: bigint;
  cookie: bigint;
  kind: number;
}

function decode(r: Buffer): Event {
  assert.equal(r.length, 32);
  return {
    tgid: r.readUInt32LE(0),
    tid: r.readUInt32LE(4),
    seq: r.readBigUInt64LE(8),
    cookie: r.readBigUInt64LE(16),
    kind: r.readUInt32LE(24),
  };
}

/** Reserve failures the program counted (array_counts[slot]). */
function lost(obj: BpfObject, slot: number): bigint {
  return obj.map('array_counts').lookup(u32(slot))?.readBigUInt64LE(0) ?? 0n;
}

function assertInOrder(events: readonly Event[], n: number, kind: number, cookie: bigint): void {
  assert.equal(events.length, n);
  events.forEach((e, i) => {
    assert.equal(e.seq, BigInt(i), `record ${i} out of order`);
    assert.equal(e.tgid, process.pid);
    assert.equal(e.tid, process.pid);
    assert.equal(e.kind, kind);
    assert.equal(e.cookie, cookie);
  });
}

describe('ring buffer', () => {
  it('delivers exactly N no-wakeup records, in order, on consume()', () => {
    const cookie = 0xdeadbeefcafe0001n;
    const obj = loadAddonTest(cookie);
    try {
      assert.equal(obj.attach(['ring_nowakeup'])[0]?.attached, true);
      const events: Event[] = [];
      const ring = obj.ringBuffer('events', (r) => events.push(decode(r)), {
        drainIntervalMs: 0,
        poll: false,
      });
      const n = 20_000; // 800 KB in a 1 MiB ring: all fit before the drain
      trigger(n);
      assert.equal(ring.consume(), n);
      assert.equal(ring.consume(), 0);
      assertInOrder(events, n, 1, cookie);
      assert.equal(ring.delivered, n);
      assert.equal(ring.handlerErrors, 0);
      assert.equal(lost(obj, 1), 0n);
      ring.close();
      ring.close();
      assert.equal(ring.consume(), 0);
    } finally {
      obj.close();
    }
  });

  it('hands over a drain as one batch read in place from the ring, across its wrap', () => {
    const obj = loadAddonTest();
    try {
      assert.equal(obj.attach(['ring_nowakeup'])[0]?.attached, true);
      const sizes: number[] = [];
      const seqs: bigint[] = [];
      let kept: Buffer | undefined;
      let throwOnce = true;
      const ring = obj.ringBuffer(
        'events',
        {
          onBatch: ({ count, start, bytes, view, lost }: RecordBatch) => {
            sizes.push(count);
            kept = bytes;
            assert.equal(lost, 0);
            let at = start;
            for (let i = 0; i < count; i++) {
              const len = view.getUint32(at, true);
              assert.equal(len, 32);
              assert.equal(view.getUint32(at + RECORD_HEADER_BYTES, true), process.pid);
              seqs.push(view.getBigUint64(at + RECORD_HEADER_BYTES + 8, true));
              at = nextRecord(at, len);
            }
            assert.ok(at <= bytes.length);
            if (seqs.length === 20_000 && throwOnce) {
              throwOnce = false;
              throw new Error('batch handler failure');
            }
          },
        },
        { drainIntervalMs: 0, poll: false },
      );
      // 5 rounds of 20,000 records of 8 + 32 bytes: 4 MB through a 1 MiB ring, so records
      // straddle its end (the data pages are mapped twice in a row: read as one span).
      for (let round = 0; round < 5; round++) {
        trigger(20_000);
        assert.equal(ring.consume(), 20_000);
      }
      assert.deepEqual(sizes, [20_000, 20_000, 20_000, 20_000, 20_000], 'one call per drain');
      assert.deepEqual(
        seqs,
        Array.from({ length: 100_000 }, (_, i) => BigInt(i)),
      );
      assert.equal(ring.delivered, 100_000);
      // A throwing batch handler is counted once; the next drain delivers on.
      assert.equal(ring.handlerErrors, 1);
      assert.match(String(ring.lastHandlerError), /batch handler failure/);
      trigger(10);
      assert.equal(ring.consume(), 10);
      assert.equal(seqs.at(-1), 100_009n);
      assert.equal(lost(obj, 1), 0n);
      // A view kept past the call reads nothing once the ring is closed (detached, then unmapped).
      ring.close();
      assert.equal(kept?.length, 0);
      assert.equal(kept?.buffer.byteLength, 0);
    } finally {
      obj.close();
    }
  });

  it('skips discarded records: a discard splits the batch, the rest come in order', () => {
    const obj = loadAddonTest();
    try {
      assert.equal(obj.attach(['ring_discard'])[0]?.attached, true);
      const sizes: number[] = [];
      const seqs: bigint[] = [];
      const ring = obj.ringBuffer(
        'events',
        {
          onBatch: ({ count, start, view }: RecordBatch) => {
            sizes.push(count);
            let at = start;
            for (let i = 0; i < count; i++) {
              const len = view.getUint32(at, true);
              assert.equal(len, 32);
              assert.equal(view.getUint32(at + RECORD_HEADER_BYTES + 24, true), 3);
              seqs.push(view.getBigUint64(at + RECORD_HEADER_BYTES + 8, true));
              at = nextRecord(at, len);
            }
          },
        },
        { drainIntervalMs: 0, poll: false },
      );
      trigger(30); // seq 2, 5, 8, … discarded
      assert.equal(ring.consume(), 20);
      assert.deepEqual(sizes, Array(10).fill(2));
      assert.deepEqual(
        seqs,
        Array.from({ length: 30 }, (_, i) => BigInt(i)).filter((s) => s % 3n !== 2n),
      );
      trigger(3);
      assert.equal(ring.consume(), 2);
      assert.equal(ring.consume(), 0);
      assert.equal(lost(obj, 1), 0n);
    } finally {
      obj.close();
    }
  });

  it('enters JS only when records came: an idle ring backs off its native drain timer', async () => {
    const obj = loadAddonTest();
    try {
      obj.attach(['ring_nowakeup']);
      let batches = 0;
      let records = 0;
      const ring = obj.ringBuffer(
        'events',
        {
          onBatch: ({ count }: RecordBatch) => {
            batches++;
            records += count;
          },
        },
        { drainIntervalMs: 10, poll: false },
      );
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      // Idle: drains at 10, 30, 70, 150, 310, 560 ms (doubling up to 250 ms), none entering JS.
      await sleep(600);
      const idleTicks = ring.timerDrains;
      assert.equal(batches, 0);
      assert.ok(
        idleTicks >= 2 && idleTicks <= 10,
        `idle drains in 600 ms: ${idleTicks} (60 without backing off)`,
      );
      // Records arrive: the timer finds them (no poll, no consume) and keeps its 10 ms period while they come.
      for (let i = 0; i < 30; i++) {
        trigger(10);
        await sleep(10);
      }
      await waitFor(() => records >= 300);
      const busyTicks = ring.timerDrains - idleTicks;
      assert.equal(records, 300);
      assert.ok(batches >= 2 && batches <= busyTicks, `${batches} batches in ${busyTicks} drains`);
      assert.ok(busyTicks > idleTicks, `busy drains ${busyTicks} > idle drains ${idleTicks}`);
      ring.close();
    } finally {
      obj.close();
    }
  });

  it('counts its first drain from the open, not from the start of a long loop turn', async () => {
    const obj = loadAddonTest();
    try {
      obj.attach(['ring_nowakeup']);
      // JS that runs long before the open (loading, attaching) leaves the loop's clock behind:
      // a timer started on it would be due at once, find nothing and back off.
      const until = performance.now() + 150;
      while (performance.now() < until);
      const ring = obj.ringBuffer('events', () => {}, { drainIntervalMs: 250, poll: false });
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      await sleep(30); // due at once itself (the same stale clock)
      await sleep(30); // ~30 ms after the open
      assert.equal(ring.timerDrains, 0, 'no drain before its interval');
      await waitFor(() => ring.timerDrains >= 1);
      ring.close();
    } finally {
      obj.close();
    }
  });

  it('drains no-wakeup records on its timer', async () => {
    const obj = loadAddonTest();
    try {
      obj.attach(['ring_nowakeup']);
      const events: Event[] = [];
      const ring = obj.ringBuffer('events', (r) => events.push(decode(r)), {
        drainIntervalMs: 10,
        poll: true,
      });
      trigger(300);
      await waitFor(() => events.length >= 300);
      trigger(200);
      await waitFor(() => events.length >= 500);
      await new Promise((r) => setTimeout(r, 30));
      assertInOrder(events, 500, 1, 0x1122334455667788n);
      assert.equal(lost(obj, 1), 0n);
      ring.close();
    } finally {
      obj.close();
    }
  });

  it('wakes on epoll readiness (uv_poll) for records submitted with a wake-up', async () => {
    const obj = loadAddonTest();
    try {
      obj.attach(['ring_wakeup']);
      const events: Event[] = [];
      obj.ringBuffer('events_wakeup', (r) => events.push(decode(r)), { drainIntervalMs: 0, poll: true });
      for (let round = 0; round < 5; round++) {
        trigger(100);
        await waitFor(() => events.length >= 100 * (round + 1), 2000);
      }
      assertInOrder(events, 500, 2, 0x1122334455667788n);
      assert.equal(lost(obj, 2), 0n);
    } finally {
      obj.close(); // closes the ring and its poll handle: the test process can exit
    }
  });

  it('counts handler exceptions and keeps delivering', async () => {
    const obj = loadAddonTest();
    try {
      obj.attach(['ring_nowakeup']);
      let seen = 0;
      const ring = obj.ringBuffer(
        'events',
        () => {
          seen++;
          if (seen % 2 === 0) throw new Error(`handler failure ${seen}`);
        },
        { drainIntervalMs: 0, poll: false },
      );
      trigger(100);
      assert.equal(ring.consume(), 100);
      assert.equal(seen, 100);
      assert.equal(ring.handlerErrors, 50);
      assert.match(String(ring.lastHandlerError), /handler failure 100/);
      // The same through the uv_poll path, where no JS is on the stack.
      let polled = 0;
      const woke = obj.ringBuffer(
        'events_wakeup',
        () => {
          polled++;
          throw new Error('always');
        },
        { drainIntervalMs: 0, poll: true },
      );
      obj.attach(['ring_wakeup']);
      trigger(10);
      await waitFor(() => polled >= 10);
      assert.equal(woke.handlerErrors, 10);
      trigger(5);
      assert.equal(ring.consume(), 15); // the 10 + 5 no-wakeup records of the later triggers
      assert.equal(syscallGetpid(1), process.pid); // getpid is not a trigger
      assert.equal(ring.consume(), 0);
    } finally {
      obj.close();
    }
  });

  it('can be closed from inside its handler', () => {
    const obj = loadAddonTest();
    try {
      obj.attach(['ring_nowakeup']);
      let seen = 0;
      const ring = obj.ringBuffer(
        'events',
        () => {
          seen++;
          ring.close();
          assert.equal(ring.consume(), 0); // re-entrant consume is a no-op
        },
        { drainIntervalMs: 0, poll: true },
      );
      trigger(50);
      ring.consume();
      assert.equal(seen, 1);
      assert.equal(ring.delivered, 1);
      // The object can open a new ring on the same map and sees the rest.
      const rest: Buffer[] = [];
      const again = obj.ringBuffer('events', (r) => rest.push(Buffer.from(r)), {
        drainIntervalMs: 0,
        poll: false,
      });
      trigger(1);
      again.consume();
      assert.ok(rest.length >= 1);
      assert.equal(decode(rest.at(-1) as Buffer).seq, 50n);
    } finally {
      obj.close();
    }
  });

  it('survives its object being closed from inside a handler', async () => {
    const obj = loadAddonTest();
    obj.attach(['ring_nowakeup', 'ring_wakeup']);
    let seen = 0;
    const ring = obj.ringBuffer(
      'events_wakeup',
      () => {
        seen++;
        obj.close();
      },
      { drainIntervalMs: 1, poll: true },
    );
    trigger(20);
    await waitFor(() => seen > 0);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(seen, 1);
    assert.equal(obj.closed, true);
    assert.equal(ring.consume(), 0);
  });

  it('closes with its object, even with records pending', () => {
    const obj = loadAddonTest();
    obj.attach(['ring_nowakeup', 'ring_wakeup']);
    const a = obj.ringBuffer('events', () => {}, { drainIntervalMs: 5, poll: true });
    const b = obj.ringBuffer('events_wakeup', () => {}, { drainIntervalMs: 0, poll: true });
    trigger(100);
    obj.close();
    assert.equal(a.consume(), 0);
    assert.equal(b.consume(), 0);
    a.close();
  });
});
