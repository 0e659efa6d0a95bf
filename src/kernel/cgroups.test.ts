import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cgroups, findCgroupHierarchies, findCgroupV1Mount } from './cgroups.ts';
import { parseMountInfo, readMountInfo } from './mountinfo.ts';

const ino = (p: string): bigint => statSync(p, { bigint: true }).ino;
const v2 = findCgroupHierarchies(readMountInfo()).find((h) => h.version === 2);

test('findCgroupHierarchies: cgroup2 first, v1 controllers, one mount per hierarchy', () => {
  const mounts = parseMountInfo(
    [
      '30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
      '31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
      '39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
      '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate',
      '41 1 0:37 / /mnt/again rw - cgroup2 cgroup2 rw',
    ].join('\n'),
  );
  assert.deepEqual(findCgroupHierarchies(mounts), [
    { version: 2, mountPoint: '/sys/fs/cgroup/unified', controllers: [] },
    { version: 1, mountPoint: '/sys/fs/cgroup/cpu', controllers: ['cpu'] },
    { version: 1, mountPoint: '/sys/fs/cgroup/systemd', controllers: ['name=systemd'] },
  ]);
});

test('findCgroupV1Mount: the v1 hierarchy with a controller (co-mounted ones too), never cgroup2', () => {
  const mounts = parseMountInfo(
    [
      '31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
      '38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
      '39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
      '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate',
    ].join('\n'),
  );
  assert.equal(findCgroupV1Mount('pids', mounts), '/sys/fs/cgroup/pids');
  assert.equal(findCgroupV1Mount('cpuacct', mounts), '/sys/fs/cgroup/cpu,cpuacct');
  assert.equal(findCgroupV1Mount('name=systemd', mounts), '/sys/fs/cgroup/systemd');
  assert.equal(findCgroupV1Mount('memory', mounts), undefined);
  assert.equal(findCgroupV1Mount('nsdelegate', mounts), undefined);
});

test(
  'a real cgroup made under the cgroup2 mount resolves to its path; removed, it is unknown after a rescan',
  { skip: !v2 && 'no cgroup2 mount' },
  (t) => {
    const root = (v2 as { mountPoint: string }).mountPoint;
    const dir = join(root, `ectest-${process.pid}`);
    const child = join(dir, 'child');
    t.after(() => {
      for (const d of [child, dir]) {
        try {
          rmdirSync(d);
        } catch {
          // already gone
        }
      }
    });
    mkdirSync(dir);
    mkdirSync(child);
    const id = ino(dir);
    const childId = ino(child);
    let now = 0;
    const cgroups = new Cgroups({ now: () => now, rescanIntervalMs: 1000 });
    assert.equal(cgroups.resolve(id), dir);
    assert.equal(cgroups.resolve(childId), child, 'found by the same walk');
    assert.equal(cgroups.scans, 1);
    assert.equal(cgroups.resolve(1n), root, 'id 1 is the root of the cgroup2 hierarchy');

    rmdirSync(child);
    assert.equal(
      cgroups.resolve(childId),
      undefined,
      'cached path no longer has that inode: not returned even within the interval',
    );
    now += 1000;
    assert.equal(cgroups.resolve(childId), undefined, 'after a rescan: unknown');
    assert.equal(cgroups.scans, 2);
    assert.equal(cgroups.resolve(id), dir);

    // A new cgroup at the same path is a different id: the old id must not get its path.
    rmdirSync(dir);
    mkdirSync(dir);
    assert.notEqual(ino(dir), id);
    assert.equal(cgroups.resolve(id), undefined);
    now += 1000;
    assert.equal(cgroups.resolve(ino(dir)), dir, 'the new id resolves after a rescan');
  },
);

test('rescans are bounded: misses within the interval do not walk', () => {
  const base = mkdtempSync(join(tmpdir(), 'cg-'));
  try {
    let now = 0;
    const cgroups = new Cgroups({
      hierarchies: [{ version: 2, mountPoint: base, controllers: [] }],
      now: () => now,
      rescanIntervalMs: 1000,
    });
    assert.equal(cgroups.resolve(123456789n), undefined);
    assert.equal(cgroups.resolve(123456780n), undefined);
    assert.equal(cgroups.scans, 1);
    mkdirSync(join(base, 'late'));
    assert.equal(
      cgroups.resolve(ino(join(base, 'late'))),
      undefined,
      'created after the walk, within the interval',
    );
    now = 1000;
    assert.equal(cgroups.resolve(ino(join(base, 'late'))), join(base, 'late'), 'misses are not cached');
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('the cache is LRU-bounded and an evicted id still resolves through a rescan', () => {
  const base = mkdtempSync(join(tmpdir(), 'cg-'));
  try {
    for (const n of ['a', 'b', 'c', 'd']) mkdirSync(join(base, n));
    let now = 0;
    const cgroups = new Cgroups({
      hierarchies: [{ version: 2, mountPoint: base, controllers: [] }],
      maxEntries: 2,
      now: () => now,
      rescanIntervalMs: 1000,
    });
    const a = ino(join(base, 'a'));
    assert.equal(cgroups.resolve(a), join(base, 'a'));
    assert.equal(cgroups.size, 2, 'bounded');
    now = 1000;
    const d = ino(join(base, 'd'));
    assert.equal(cgroups.resolve(d), join(base, 'd'));
    assert.equal(cgroups.size, 2);
    assert.equal(cgroups.resolve(d), join(base, 'd'), 'the target of a rescan is kept');
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('cgroup2 wins an inode collision with a v1 hierarchy', () => {
  const one = mkdtempSync(join(tmpdir(), 'cg-v1-'));
  const two = mkdtempSync(join(tmpdir(), 'cg-v2-'));
  try {
    // Same directory in both lists stands in for two hierarchies with a colliding inode.
    const cgroups = new Cgroups({
      hierarchies: [
        { version: 2, mountPoint: two, controllers: [] },
        { version: 1, mountPoint: two, controllers: ['cpu'] },
        { version: 1, mountPoint: one, controllers: ['memory'] },
      ],
    });
    assert.equal(cgroups.resolve(ino(two)), two);
    assert.equal(cgroups.resolve(ino(one)), one, 'v1-only ids still resolve');
  } finally {
    rmSync(one, { recursive: true, force: true });
    rmSync(two, { recursive: true, force: true });
  }
});
