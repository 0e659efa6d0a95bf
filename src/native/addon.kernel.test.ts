/** The addon on the real kernel: open, globals, load, attach, maps, detach, close. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CollectorError } from '../errors.ts';
import {
  ADDON_PATH,
  UPROBE_TARGET,
  callUprobeTarget,
  numPossibleCpus,
  openObject,
  syscallGetpid,
} from './index.ts';
import { ADDON_TEST, loadAddonTest, possibleCpus, sumPerCpu, u32, u64 } from './kernel-fixtures.ts';
import { programIdsHeldBy, waitForRelease } from '../../test/helpers/bpf-programs.ts';

function isCode(code: string, pattern?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof CollectorError, `expected a CollectorError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

describe('spec (before load)', () => {
  it('lists programs, maps and const volatile globals', () => {
    const spec = openObject(ADDON_TEST);
    try {
      const progs = spec.programs();
      assert.deepEqual(
        progs.map((p) => [p.name, p.section, p.type, p.autoload]),
        [
          ['count_getpid', 'tracepoint/syscalls/sys_enter_getpid', 'tracepoint', true],
          ['ring_nowakeup', 'tracepoint/syscalls/sys_enter_getpgid', 'tracepoint', true],
          ['ring_discard', 'tracepoint/syscalls/sys_enter_getpgid', 'tracepoint', true],
          ['ring_wakeup', 'tracepoint/syscalls/sys_enter_getpgid', 'tracepoint', true],
          ['uprobe_target', 'uprobe', 'kprobe', true],
        ],
      );
      assert.deepEqual(spec.globals(), [
        { name: 'targ_tgid', size: 4 },
        { name: 'targ_tid', size: 4 },
        { name: 'targ_cookie', size: 8 },
        { name: 'targ_enabled', size: 1 },
      ]);
      assert.ok(spec.maps().some((m) => m.name === 'big_hash' && m.maxEntries === 100000));
      spec.setAutoload('uprobe_target', false);
      assert.equal(spec.programs().find((p) => p.name === 'uprobe_target')?.autoload, false);
    } finally {
      spec.close();
      spec.close();
    }
  });

  it('rejects unknown globals, values that do not fit, and unknown programs', () => {
    const spec = openObject(ADDON_TEST);
    try {
      assert.throws(
        () => spec.setGlobal('targ_nope', 1),
        isCode('ERR_BPF_OPEN', /targ_nope.*targ_tgid, targ_tid/),
      );
      assert.throws(
        () => spec.setGlobal('targ_tgid', 2 ** 32),
        isCode('ERR_BPF_OPEN', /does not fit in the global's 4 bytes/),
      );
      assert.throws(
        () => spec.setGlobal('targ_cookie', Buffer.alloc(4)),
        isCode('ERR_BPF_OPEN', /8 bytes, the value 4/),
      );
      assert.throws(() => spec.setGlobal('targ_tgid', 1.5), isCode('ERR_BPF_OPEN', /expected an integer/));
      assert.throws(
        () => spec.setAutoload('nope', false),
        isCode('ERR_BPF_OPEN', /no program of that name.*count_getpid/),
      );
      spec.setGlobal('targ_tgid', -1); // two's complement fits
    } finally {
      spec.close();
    }
    assert.throws(() => spec.programs(), isCode('ERR_BPF_CLOSED'));
    assert.throws(() => spec.load(), isCode('ERR_BPF_CLOSED'));
  });

  it('is consumed by load', () => {
    const spec = openObject(ADDON_TEST);
    const obj = spec.load();
    try {
      assert.throws(() => spec.setGlobal('targ_tgid', 1), isCode('ERR_BPF_CLOSED'));
      assert.throws(() => spec.load(), isCode('ERR_BPF_CLOSED'));
      spec.close(); // safe
    } finally {
      obj.close();
    }
  });
});

describe('loaded object', () => {
  it('counts exactly the getpid calls of this thread, and stops after detach', () => {
    const obj = loadAddonTest();
    try {
      const res = obj.attach(['count_getpid']);
      assert.deepEqual(
        res.map((r) => [r.program, r.section, r.attached]),
        [['count_getpid', 'tracepoint/syscalls/sys_enter_getpid', true]],
      );
      const counts = obj.map('counts');
      const array = obj.map('array_counts');
      const percpu = obj.map('percpu_counts');
      const key = u32(process.pid);
      const before = counts.lookup(key)?.readBigUInt64LE(0) ?? 0n;
      const arrBefore = array.lookup(u32(0))?.readBigUInt64LE(0) ?? 0n;
      const pcBefore = sumPerCpu(percpu.lookup(u32(0)) ?? Buffer.alloc(0));

      const tid = syscallGetpid(1234);
      assert.equal(tid, process.pid);

      assert.equal((counts.lookup(key)?.readBigUInt64LE(0) ?? 0n) - before, 1234n);
      assert.equal((array.lookup(u32(0))?.readBigUInt64LE(0) ?? 0n) - arrBefore, 1234n);
      const pc = percpu.lookup(u32(0));
      assert.ok(pc);
      assert.equal(pc.length, 8 * numPossibleCpus());
      assert.equal(sumPerCpu(pc) - pcBefore, 1234n);

      obj.detach('count_getpid');
      obj.detach('count_getpid'); // nothing left: no-op
      syscallGetpid(50);
      assert.equal((counts.lookup(key)?.readBigUInt64LE(0) ?? 0n) - before, 1234n);
    } finally {
      obj.close();
    }
  });

  it('reports per program whether it attached', () => {
    const spec = openObject(ADDON_TEST);
    spec.setAutoload('ring_wakeup', false);
    const obj = spec.load();
    try {
      const res = obj.attach(['count_getpid', 'ring_wakeup', 'nope']);
      assert.equal(res[0]?.attached, true);
      assert.deepEqual(
        res.slice(1).map((r) => [r.program, r.attached, r.error]),
        [
          ['ring_wakeup', false, 'program was not loaded (autoload is off)'],
          ['nope', false, 'no program of that name'],
        ],
      );
      // Default: every autoloaded program. `uprobe` has no target in its SEC name, so it cannot attach by it.
      const all = obj.attach();
      assert.deepEqual(
        all.map((r) => r.program),
        ['count_getpid', 'ring_nowakeup', 'ring_discard', 'uprobe_target'],
      );
      const up = all.find((r) => r.program === 'uprobe_target');
      assert.equal(up?.attached, false);
      assert.match(up?.error ?? '', /^E[A-Z]+ \([a-z ]+\)$/);
    } finally {
      obj.close();
    }
  });

  it('sets const volatile globals before load (filter and cookie take effect)', () => {
    const spec = openObject(ADDON_TEST);
    spec.setGlobal('targ_tgid', process.pid);
    spec.setGlobal('targ_enabled', false);
    const obj = spec.load();
    try {
      obj.attach(['count_getpid']);
      syscallGetpid(100);
      assert.equal(obj.map('counts').lookup(u32(process.pid)), undefined);
    } finally {
      obj.close();
    }
  });

  it('attaches a uprobe by function name and counts exact calls', () => {
    const obj = loadAddonTest();
    try {
      const r = obj.attachUprobe('uprobe_target', ADDON_PATH, UPROBE_TARGET, { pid: process.pid });
      assert.equal(r.attached, true, `${r.error} ${r.log?.join('\n')}`);
      const array = obj.map('array_counts');
      const before = array.lookup(u32(3))?.readBigUInt64LE(0) ?? 0n;
      callUprobeTarget(77);
      assert.equal((array.lookup(u32(3))?.readBigUInt64LE(0) ?? 0n) - before, 77n);
      const bad = obj.attachUprobe('uprobe_target', ADDON_PATH, 'no_such_function_here');
      assert.equal(bad.attached, false);
      assert.match(bad.error ?? '', /^E[A-Z]+ \(/);
      const rel = obj.attachUsdt('uprobe_target', 'python3', 'python', 'function__entry');
      assert.equal(rel.attached, false);
      assert.match(rel.error ?? '', /must be absolute/);
    } finally {
      obj.close();
    }
  });

  it('closes twice safely and refuses use after close', () => {
    const obj = loadAddonTest();
    const m = obj.map('counts');
    obj.attach(['count_getpid']);
    obj.close();
    obj.close();
    assert.equal(obj.closed, true);
    assert.throws(() => obj.attach(), isCode('ERR_BPF_CLOSED'));
    assert.throws(() => obj.map('counts'), isCode('ERR_BPF_CLOSED'));
    assert.throws(() => obj.programs(), isCode('ERR_BPF_CLOSED'));
    assert.throws(() => m.readAll(), isCode('ERR_BPF_CLOSED', /^read map counts: object is closed$/));
    assert.throws(() => m.lookup(u32(1)), isCode('ERR_BPF_CLOSED'));
    assert.throws(() => m.update(u32(1), u64(1)), isCode('ERR_BPF_CLOSED'));
    assert.throws(() => m.delete(u32(1)), isCode('ERR_BPF_CLOSED'));
    assert.throws(() => obj.ringBuffer('events', () => {}), isCode('ERR_BPF_CLOSED'));
  });
});

describe('maps', () => {
  it('reports metadata', () => {
    const obj = loadAddonTest();
    try {
      const cpus = possibleCpus();
      assert.equal(numPossibleCpus(), cpus);
      // The kernel's map id, a positive number different for each map; the rest is fixed.
      const ids = new Set(['counts', 'percpu_counts'].map((n) => obj.map(n).info.id));
      assert.ok(
        [...ids].every((id) => id !== undefined && id > 0) && ids.size === 2,
        `ids ${[...ids].join(', ')}`,
      );
      const info = (name: string) => {
        const { id: _id, ...rest } = obj.map(name).info;
        return rest;
      };
      assert.deepEqual(info('counts'), {
        name: 'counts',
        type: 'hash',
        keySize: 4,
        valueSize: 8,
        maxEntries: 1024,
        perCpu: false,
        numCpus: 1,
        valueStride: 8,
      });
      assert.deepEqual(info('percpu_counts'), {
        name: 'percpu_counts',
        type: 'percpu_array',
        keySize: 4,
        valueSize: 8,
        maxEntries: 1,
        perCpu: true,
        numCpus: cpus,
        valueStride: 8 * cpus,
      });
      // A 4-byte per-CPU value still takes 8 bytes per CPU.
      assert.equal(info('percpu_hash').valueSize, 4);
      assert.equal(info('percpu_hash').valueStride, 8 * cpus);
      assert.equal(info('percpu_hash').keySize, 8);
      assert.equal(info('array_counts').type, 'array');
      assert.equal(info('events').type, 'ringbuf');
      assert.equal(info('events').maxEntries, 1 << 20);
      assert.throws(() => obj.map('nope'), isCode('ERR_BPF_MAP', /no map of that name.*big_hash/));
      // In object order, the .rodata/.bss maps libbpf made for globals after ours.
      assert.deepEqual(
        obj.maps().map((m) => m.name),
        [
          ...'counts percpu_counts array_counts events events_wakeup'.split(' '),
          'map_update_failures', // bpf/include/maps.bpf.h's, defined where the header is included
          ...'big_hash percpu_hash'.split(' '),
          'addon_te.rodata',
          'addon_te.bss',
        ],
      );
    } finally {
      obj.close();
    }
  });

  it('updates with any/noexist/exist, looks up and deletes', () => {
    const obj = loadAddonTest();
    try {
      const m = obj.map('big_hash');
      assert.equal(m.lookup(u32(7)), undefined);
      assert.throws(
        () => m.update(u32(7), u64(1), 'exist'),
        isCode('ERR_BPF_MAP', /^update map big_hash: ENOENT \(no such file or directory\)$/),
      );
      m.update(u32(7), u64(1), 'noexist');
      assert.throws(
        () => m.update(u32(7), u64(2), 'noexist'),
        isCode('ERR_BPF_MAP', /^update map big_hash: EEXIST \(file exists\)$/),
      );
      m.update(u32(7), u64(3), 'exist');
      assert.equal(m.lookup(u32(7))?.readBigUInt64LE(0), 3n);
      m.update(u32(7), u64(4));
      assert.equal(m.lookup(u32(7))?.readBigUInt64LE(0), 4n);
      assert.equal(m.delete(u32(7)), true);
      assert.equal(m.delete(u32(7)), false);
      assert.equal(m.lookup(u32(7)), undefined);
      assert.throws(
        () => m.update(Buffer.alloc(3), u64(1)),
        isCode('ERR_BPF_MAP', /key is 3 bytes, the map's key size is 4/),
      );
      assert.throws(() => m.update(u32(1), Buffer.alloc(4)), isCode('ERR_BPF_MAP', /value is 4 bytes/));
      const small = obj.map('counts'); // 1024 entries
      const keys = Buffer.alloc(4 * 1025);
      for (let i = 0; i < 1025; i++) keys.writeUInt32LE(i + 1, 4 * i);
      assert.throws(
        () => small.updateBatch(keys, Buffer.alloc(8 * 1025)),
        isCode('ERR_BPF_MAP', /^batch update map counts: E2BIG \(/),
      );
    } finally {
      obj.close();
    }
  });

  it('reads a 10k-entry hash in batches into reused buffers', () => {
    const obj = loadAddonTest();
    try {
      const m = obj.map('big_hash');
      const n = 10_000;
      const keys = Buffer.alloc(4 * n);
      const values = Buffer.alloc(8 * n);
      for (let i = 0; i < n; i++) {
        keys.writeUInt32LE(i * 7 + 1, 4 * i);
        values.writeBigUInt64LE(BigInt(i) * 1_000_003n, 8 * i);
      }
      assert.equal(m.updateBatch(keys, values), n);

      const first = m.readAll();
      assert.equal(first.method, 'batch');
      assert.equal(first.count, n);
      assert.equal(first.keys.length, 4 * n);
      assert.equal(first.values.length, 8 * n);
      const seen = new Map<number, bigint>();
      for (let i = 0; i < first.count; i++)
        seen.set(first.keys.readUInt32LE(4 * i), first.values.readBigUInt64LE(8 * i));
      assert.equal(seen.size, n);
      for (let i = 0; i < n; i++)
        assert.equal(seen.get(i * 7 + 1), BigInt(i) * 1_000_003n, `key ${i * 7 + 1}`);

      // Shrink: the same memory is reused, nothing is reallocated.
      for (let i = 0; i < n; i += 2) m.delete(u32(i * 7 + 1));
      const second = m.readAll();
      assert.equal(second.count, n / 2);
      assert.equal(second.keys.buffer, first.keys.buffer);
      assert.equal(second.values.buffer, first.values.buffer);
      for (let i = 0; i < second.count; i++) {
        const k = second.keys.readUInt32LE(4 * i);
        assert.equal(((k - 1) / 7) % 2, 1);
      }
    } finally {
      obj.close();
    }
  });

  it('sizes its read buffers by live entries, not max_entries', () => {
    const obj = loadAddonTest();
    try {
      const m = obj.map('big_hash'); // 100k max entries
      for (let i = 0; i < 10; i++) m.update(u32(i), u64(i));
      const b = m.readAll();
      assert.equal(b.count, 10);
      assert.ok(b.values.buffer.byteLength <= 64 * 1024, `value buffer ${b.values.buffer.byteLength} bytes`);
      const empty = obj.map('counts').readAll();
      assert.equal(empty.count, 0);
    } finally {
      obj.close();
    }
  });

  it('reads a full 100k-entry hash (end of map: ENOENT with a valid count)', () => {
    const obj = loadAddonTest();
    try {
      const m = obj.map('big_hash');
      const n = 100_000;
      const keys = Buffer.alloc(4 * n);
      const values = Buffer.alloc(8 * n);
      for (let i = 0; i < n; i++) {
        keys.writeUInt32LE(i, 4 * i);
        values.writeBigUInt64LE(BigInt(i) + 5n, 8 * i);
      }
      m.updateBatch(keys, values, 'noexist');
      m.readAll(); // warm: buffers grow once
      const t0 = process.hrtime.bigint();
      const b = m.readAll();
      const ns = Number(process.hrtime.bigint() - t0);
      assert.equal(b.count, n);
      let sum = 0n;
      for (let i = 0; i < n; i++) sum += b.values.readBigUInt64LE(8 * i) - BigInt(b.keys.readUInt32LE(4 * i));
      assert.equal(sum, 5n * BigInt(n));
      console.log(
        `# readAll of ${n} hash entries: ${(ns / 1e6).toFixed(1)} ms, ${(ns / n).toFixed(0)} ns/entry`,
      );
    } finally {
      obj.close();
    }
  });

  it('reads and writes per-CPU values with an 8-byte stride per CPU', () => {
    const obj = loadAddonTest();
    try {
      const cpus = numPossibleCpus();
      const m = obj.map('percpu_hash');
      const key = Buffer.alloc(8);
      key.writeUInt32LE(3, 0);
      key.writeUInt32LE(9, 4);
      const value = Buffer.alloc(8 * cpus);
      for (let c = 0; c < cpus; c++) value.writeUInt32LE(100 + c, 8 * c);
      m.update(key, value);
      const got = m.lookup(key);
      assert.ok(got);
      for (let c = 0; c < cpus; c++) assert.equal(got.readUInt32LE(8 * c), 100 + c);
      const all = m.readAll();
      assert.equal(all.count, 1);
      assert.deepEqual(all.keys, key);
      for (let c = 0; c < cpus; c++) assert.equal(all.values.readUInt32LE(8 * c), 100 + c);

      // The array flavour: batch counts every slot.
      const arr = obj.map('percpu_counts').readAll();
      assert.equal(arr.count, 1);
      assert.equal(arr.values.length, 8 * cpus);
    } finally {
      obj.close();
    }
  });

  it('reads array maps whole', () => {
    const obj = loadAddonTest();
    try {
      const m = obj.map('array_counts');
      m.update(u32(2), u64(42));
      const b = m.readAll();
      assert.equal(b.count, 4);
      assert.deepEqual(
        [0, 1, 2, 3].map((i) => b.keys.readUInt32LE(4 * i)),
        [0, 1, 2, 3],
      );
      assert.equal(b.values.readBigUInt64LE(16), 42n);
      assert.throws(() => obj.map('events').readAll(), isCode('ERR_BPF_MAP', /ringbuf map has no entries/));
    } finally {
      obj.close();
    }
  });
});

describe('after close', () => {
  it('holds none of its programs, and the kernel lets them go', async () => {
    const obj = loadAddonTest();
    obj.attach(['count_getpid', 'ring_nowakeup']);
    const ids = obj.programs().flatMap((p) => (p.id === undefined ? [] : [p.id]));
    assert.ok(ids.length > 0, 'loaded programs have ids');
    const held = programIdsHeldBy('self');
    assert.deepEqual(
      ids.filter((id) => !held.includes(id)),
      [],
      'this process holds every program it loaded',
    );
    obj.close();
    const still = programIdsHeldBy('self');
    assert.deepEqual(
      ids.filter((id) => still.includes(id)),
      [],
      'close released every fd',
    );
    await waitForRelease(ids);
  });
});
