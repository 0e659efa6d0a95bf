import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CgroupTable,
  findCgroup2Mount,
  MISS_REWALK_COST_FACTOR,
  MISS_REWALK_MIN_GAP_MS,
  OrderedCgroupTables,
  type CgroupTableOptions,
} from './cgroup-table.ts';
import { until } from '../../test/helpers/until.ts';

// A tmpfs/ext4 directory tree stands in for cgroupfs: ids are directory inodes either way.

function withTree(fn: (base: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const base = mkdtempSync(join(tmpdir(), 'cgt-'));
    try {
      await fn(base);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  };
}

const ino = (p: string): bigint => statSync(p, { bigint: true }).ino;

/** A thread CPU clock under which every walk costs `ms` (the table reads it before and after a walk). */
function walksCost(ms: number): () => number {
  let cpu = 0;
  return () => (cpu += ms);
}

function table(root: string, extra: Partial<CgroupTableOptions> = {}): CgroupTable {
  return new CgroupTable({
    root,
    deletedGraceMs: 300_000,
    rescanIntervalMs: 60_000,
    maxWatches: 1_000,
    maxDeleted: 1_000,
    ...extra,
  });
}

test(
  'cgroup table: start walks the tree; ids resolve to their paths, unknown ids to undefined',
  withTree((base) => {
    mkdirSync(join(base, 'a', 'b'), { recursive: true });
    writeFileSync(join(base, 'a', 'cgroup.procs'), '');
    const t = table(base);
    t.start();
    try {
      assert.equal(t.mode, 'inotify');
      assert.equal(t.resolve(ino(base)), base);
      assert.equal(t.resolve(ino(join(base, 'a', 'b'))), join(base, 'a', 'b'));
      assert.equal(t.resolve(ino(join(base, 'a', 'cgroup.procs'))), undefined, 'files are not cgroups');
      assert.equal(t.size.watches, 3);
    } finally {
      t.stop();
    }
  }),
);

test(
  'cgroup table: inotify adds new directories (and what was made below them) and keeps removed ones for the grace',
  withTree(async (base) => {
    let now = 1_000_000;
    const t = table(base, { now: () => now, deletedGraceMs: 60_000 });
    t.start();
    try {
      mkdirSync(join(base, 'x', 'y', 'z'), { recursive: true });
      const z = ino(join(base, 'x', 'y', 'z'));
      await until(() => t.size.live === 4, 'the new directories');
      const scans = t.scans;
      assert.equal(t.resolve(z), join(base, 'x', 'y', 'z'));
      assert.equal(t.scans, scans, 'found by the watch, not a rescan');
      assert.ok(t.knows(z) && t.isLive(z));

      rmdirSync(join(base, 'x', 'y', 'z'));
      await until(() => t.size.deleted === 1, 'the removal');
      assert.ok(t.knows(z) && !t.isLive(z), 'removed: known (it has a path) for the grace, not live');
      assert.equal(t.resolve(z), join(base, 'x', 'y', 'z'), 'within the grace');
      now += 60_001;
      assert.ok(!t.knows(z), 'after the grace');
      assert.equal(t.resolve(z), undefined, 'after the grace (the miss rescan does not bring it back)');
      assert.equal(t.size.deleted, 0);
      assert.ok(!t.knows(123_456_789_012n), 'an id never seen');
    } finally {
      t.stop();
    }
  }),
);

test(
  'cgroup table: a replaced path never answers for the old id; a reused id answers with its new path',
  withTree(async (base) => {
    const t = table(base, { watch: false, rescanIntervalMs: 0 });
    t.start();
    try {
      const p = join(base, 'pod', 'c1');
      mkdirSync(p, { recursive: true });
      const old = ino(p);
      assert.equal(t.resolve(old), p, 'a miss rescans');
      rmdirSync(p);
      // ext4 and tmpfs often hand a freed inode to the next directory, as kernfs may.
      const other = join(base, 'other');
      mkdirSync(other);
      mkdirSync(p);
      const fresh = ino(p);
      assert.notEqual(fresh, old);
      if (ino(other) === old) {
        assert.equal(t.resolve(old), other, 'reused id: the live path, never the old one');
      } else {
        assert.equal(t.resolve(old), p, 'removed within the grace: its last path');
        assert.equal(t.resolve(ino(other)), other);
      }
      assert.equal(t.resolve(fresh), p);
    } finally {
      t.stop();
    }
  }),
);

test('cgroup table: a missing root is an error at start', () => {
  const t = table(join(tmpdir(), 'nonexistent-cgroup-root'), { watch: false });
  assert.throws(() => t.start(), /ENOENT/);
  assert.equal(t.mode, 'stopped');
});

test(
  'cgroup table: an id found live at another path (moved, or reused before its event) answers with the new path',
  withTree(async () => {
    const base = mkdtempSync(join(tmpdir(), 'cgt-move-'));
    const t = table(base, { watch: false, rescanIntervalMs: 0 });
    t.start();
    try {
      mkdirSync(join(base, 'a'));
      const id = ino(join(base, 'a'));
      assert.equal(t.resolve(id), join(base, 'a'));
      const { renameSync } = await import('node:fs');
      renameSync(join(base, 'a'), join(base, 'b'));
      assert.equal(t.resolve(id), join(base, 'b'), 'the inode check fails, the rescan finds it live');
      assert.equal(t.size.deleted, 0);
    } finally {
      t.stop();
    }
  }),
);

test(
  'cgroup table: a renamed directory moves its id to the new path',
  withTree(async (base) => {
    const t = table(base);
    t.start();
    try {
      mkdirSync(join(base, 'old'));
      const id = ino(join(base, 'old'));
      await until(() => t.resolve(id) === join(base, 'old'), 'the new directory');
      const { renameSync } = await import('node:fs');
      renameSync(join(base, 'old'), join(base, 'new'));
      await until(() => t.resolve(id) === join(base, 'new'), 'the rename');
      assert.equal(t.size.deleted, 0, 'a live id is never also a deleted one');
    } finally {
      t.stop();
    }
  }),
);

test(
  'cgroup table: a cgroup created and decoded before its inotify event is handled resolves (regression: churn-bpf unknown_cgroup_id)',
  withTree((base) => {
    let now = 0;
    const t = table(base, { rescanIntervalMs: 5_000, now: () => now, cpuNow: walksCost(1) });
    t.start();
    try {
      assert.equal(t.mode, 'inotify');
      const scans = t.scans;
      // The last walk (start) was 100 ms ago: well within rescan_interval, and within the second
      // that used to hold every miss back (churn-bpf's reads are ~0.4 s apart).
      now += 100;
      // A process enters a new cgroup and its BPF event is decoded in the same turn of the event
      // loop: the inotify event for the directory cannot have been handled yet.
      mkdirSync(join(base, 'new.scope'));
      assert.equal(t.resolve(ino(join(base, 'new.scope'))), join(base, 'new.scope'));
      assert.equal(t.scans, scans + 1, 'found by a rewalk on the miss');
    } finally {
      t.stop();
    }
  }),
);

test(
  'cgroup table: miss rewalks are bounded: one per gap, an id a rewalk did not find is remembered for rescan_interval, at most max_deleted of them',
  withTree((base) => {
    let now = 0;
    const t = table(base, {
      watch: false,
      rescanIntervalMs: 5_000,
      maxDeleted: 2,
      now: () => now,
      cpuNow: walksCost(15),
    });
    t.start();
    try {
      const scans = t.scans;
      const gap = t.missRewalkGapMs;
      assert.equal(
        gap,
        15 * MISS_REWALK_COST_FACTOR,
        'a walk of 15 ms CPU holds misses back 20 times as long',
      );
      now += gap / 2;
      mkdirSync(join(base, 'late'));
      const id = ino(join(base, 'late'));
      assert.equal(t.resolve(id), undefined, 'within the gap after the start walk');
      assert.equal(t.scans, scans);
      assert.equal(t.size.unknown, 0, 'not looked for yet: not remembered');
      now += gap;
      assert.equal(t.resolve(id), join(base, 'late'), 'the next read looks again');
      assert.equal(t.scans, scans + 1);

      // Ids no walk finds (removed before the table saw them): one walk, then remembered.
      now += gap;
      assert.equal(t.resolve(999_999_991n), undefined);
      assert.equal(t.scans, scans + 2);
      now += gap;
      assert.equal(t.resolve(999_999_991n), undefined);
      assert.equal(t.scans, scans + 2, 'remembered: no rewalk for it');
      for (const junk of [999_999_992n, 999_999_993n]) {
        now += gap;
        assert.equal(t.resolve(junk), undefined);
      }
      assert.equal(t.size.unknown, 2, 'bounded by max_deleted, oldest dropped');
      // Rechecked after rescan_interval: a directory with that id now would be found.
      now += 5_000;
      assert.equal(t.resolve(999_999_993n), undefined);
      assert.equal(t.scans, scans + 5, 'rechecked after rescan_interval');
    } finally {
      t.stop();
    }
  }),
);

test("cgroup table: the miss rewalk gap is 20× the last walk's CPU time, at least 50 ms, at most rescan_interval", () => {
  const base = mkdtempSync(join(tmpdir(), 'cgt-'));
  try {
    for (const [cost, gap] of [
      [0, MISS_REWALK_MIN_GAP_MS],
      [1, MISS_REWALK_MIN_GAP_MS],
      [10, 200],
      [100, 2_000],
      [1_000, 5_000],
    ] as const) {
      const t = table(base, { watch: false, rescanIntervalMs: 5_000, cpuNow: walksCost(cost) });
      t.start();
      assert.equal(t.missRewalkGapMs, gap, `walk of ${cost} ms CPU`);
      t.stop();
    }
    // The real clock: a walk of this tiny tree costs well under the floor's share.
    const t = table(base, { watch: false, rescanIntervalMs: 5_000 });
    t.start();
    assert.equal(t.missRewalkGapMs, MISS_REWALK_MIN_GAP_MS);
    t.stop();
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test(
  'cgroup table: past max_watches new directories are still found (by the miss rescan); deleted entries are bounded',
  withTree(async (base) => {
    const warnings: string[] = [];
    const t = table(base, {
      maxWatches: 1,
      rescanIntervalMs: 0,
      maxDeleted: 2,
      onWarning: (m) => warnings.push(m),
    });
    t.start();
    try {
      for (const n of ['a', 'b', 'c', 'd']) mkdirSync(join(base, n));
      const ids = ['a', 'b', 'c', 'd'].map((n) => ino(join(base, n)));
      for (const [i, n] of ['a', 'b', 'c', 'd'].entries())
        assert.equal(t.resolve(ids[i] as bigint), join(base, n));
      assert.equal(t.size.watches, 1);
      assert.equal(warnings.length, 1);
      for (const n of ['a', 'b', 'c', 'd']) rmdirSync(join(base, n));
      t.rescan();
      assert.equal(t.size.deleted, 2, 'the two most recent removals');
    } finally {
      t.stop();
    }
  }),
);

test('cgroup table: the cgroup2 mount comes from mountinfo', () => {
  const m = findCgroup2Mount();
  if (m !== undefined) assert.match(m, /^\//);
  assert.equal(findCgroup2Mount('/proc/self/mountinfo'), m);
});

test('ordered cgroup tables: the first table that knows an id answers (cgroup2 first wins collisions)', () => {
  const fake = (entries: Record<string, string>): Pick<CgroupTable, 'resolve'> => ({
    resolve: (id) => entries[id.toString()],
  });
  const tables = new OrderedCgroupTables([
    fake({ '1': '/sys/fs/cgroup/unified', '44': '/sys/fs/cgroup/unified/a.scope' }),
    fake({ '1': '/sys/fs/cgroup/pids', '44': '/sys/fs/cgroup/pids/b', '45': '/sys/fs/cgroup/pids/c' }),
  ]);
  assert.equal(tables.resolve(1n), '/sys/fs/cgroup/unified');
  assert.equal(tables.resolve(44n), '/sys/fs/cgroup/unified/a.scope');
  assert.equal(tables.resolve(45n), '/sys/fs/cgroup/pids/c');
  assert.equal(tables.resolve(46n), undefined);
  assert.equal(new OrderedCgroupTables([]).resolve(1n), undefined);
});

test(
  'cgroup table: change listeners hear of new, renamed and removed directories, once each (cgroup_id_map)',
  withTree(async (base) => {
    mkdirSync(join(base, 'a'));
    const t = table(base);
    t.start();
    try {
      assert.deepEqual(
        new Map(t.liveEntries()),
        new Map([
          [ino(base), base],
          [ino(join(base, 'a')), join(base, 'a')],
        ]),
      );
      const heard: { id: bigint; path: string | undefined }[] = [];
      const stop = t.onChange((c) => heard.push(c));
      const b = join(base, 'b');
      mkdirSync(b);
      const idB = ino(b);
      await until(() => heard.length >= 1, 'the new directory');
      assert.deepEqual(heard, [{ id: idB, path: b }]);
      renameSync(b, join(base, 'c'));
      await until(() => heard.some((h) => h.path === join(base, 'c')), 'the rename');
      assert.deepEqual(heard.at(-1), { id: idB, path: join(base, 'c') });
      const before = heard.length;
      t.rescan(); // a rewalk that finds nothing new says nothing
      assert.equal(heard.length, before);
      rmdirSync(join(base, 'c'));
      await until(() => heard.at(-1)?.path === undefined, 'the removal');
      assert.deepEqual(heard.at(-1), { id: idB, path: undefined });
      stop();
      mkdirSync(join(base, 'd'));
      await until(() => t.resolve(ino(join(base, 'd'))) !== undefined, 'd in the table');
      assert.equal(heard.at(-1)?.path, undefined, 'unsubscribed: not told of d');
    } finally {
      t.stop();
    }
  }),
);

test(
  'cgroup table: a removed cgroup whose grace runs out (or that the bound drops) is told as expired',
  withTree(async (base) => {
    let now = 1_000;
    const t = table(base, {
      watch: false,
      rescanIntervalMs: 0,
      deletedGraceMs: 100,
      maxDeleted: 1,
      now: () => now,
    });
    t.start();
    try {
      const a = join(base, 'a');
      const b = join(base, 'b');
      mkdirSync(a);
      mkdirSync(b);
      t.rescan();
      const [idA, idB] = [ino(a), ino(b)];
      const heard: { id: bigint; path: string | undefined; expired?: true }[] = [];
      const stop = t.onChange((c) => heard.push(c));
      rmdirSync(a);
      t.rescan();
      assert.deepEqual(heard, [{ id: idA, path: undefined }]);
      assert.equal(t.resolve(idA), a, 'within the grace: its last path');
      rmdirSync(b);
      t.rescan(); // maxDeleted 1: a is dropped for b
      assert.deepEqual(heard.slice(1), [
        { id: idB, path: undefined },
        { id: idA, path: undefined, expired: true },
      ]);
      now += 200;
      assert.equal(t.resolve(idB), undefined, 'past the grace');
      assert.deepEqual(heard.at(-1), { id: idB, path: undefined, expired: true });
      assert.equal(heard.length, 4);
      stop();
    } finally {
      t.stop();
    }
  }),
);
