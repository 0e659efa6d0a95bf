/**
 * ebpf_exporter's cgroup_id_map on real cgroups: the agent fills a BPF map with the
 * cgroup v2 ids whose path matches the regexps and keeps it current; a BPF program
 * (test/bpf/cgroup_id_map.bpf.c, like upstream's example) counts getppid(2) calls in
 * one map for cgroups in it and in another for the rest. Processes run in a matching
 * and a non-matching cgroup; a matching cgroup made after start gets counted; a
 * removed one leaves the map. The same with `type: cgrp_storage`.
 *
 * Needs root, a writable cgroup2 mount (hybrid here: /sys/fs/cgroup/unified), tracefs
 * and build/bpf/cgroup_id_map*.bpf.o. Every cgroup made here is removed in `finally`.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findCgroup2Mount } from '../../src/kernel/cgroup-table.ts';
import { configSchema as ebpfConfig } from '../../src/receivers/ebpf/config.ts';
import { ebpfReceiverFactory } from '../../src/receivers/ebpf/factory.ts';
import type { EbpfReceiver } from '../../src/receivers/ebpf/receiver.ts';
import { runInCgroup } from '../helpers/cgroup-child.ts';
import { batchOnce } from '../helpers/program-run.ts';
import { host, ino, logger, rmdirRetry, skipReason } from './helpers.ts';
import { until } from '../helpers/until.ts';

const repo = join(import.meta.dirname, '..', '..');
const mount = findCgroup2Mount();
const skip = skipReason(mount, 'cgroup2 mount');
const CALLS = 7;

/** CALLS getppid calls, every one made inside `cgroup`. */
const getppidIn = (cgroup: string): Promise<void> =>
  runInCgroup(cgroup, `import os, sys\nsys.stdin.read(1)\nfor _ in range(${CALLS}): os.getppid()\n`);

/** Poll `cond` every 20 ms for at most 10 s (inotify events arrive on the event loop). */
/** A receiver of `object` with its yaml's regexps replaced by `regexps`. */
async function receiverOf(object: string, regexps: readonly string[]): Promise<EbpfReceiver> {
  const dir = mkdtempSync(join(tmpdir(), 'cgroup-id-map-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const yaml = readFileSync(join(repo, 'test', 'bpf', `${object}.yaml`), 'utf8').replace(
    /regexps:\n( +- .*\n)+/,
    () => `regexps:\n${regexps.map((r) => `    - '${r}'\n`).join('')}`,
  );
  writeFileSync(join(dir, `${object}.yaml`), yaml);
  const path = join(repo, 'build', 'bpf', `${object}.bpf.o`);
  assert.ok(existsSync(path), `${path} is missing: run make -C bpf`);
  return (await ebpfReceiverFactory.create(
    { id: `ebpf/${object}`, logger, configDir: dir },
    ebpfConfig.parse({ program: path, metrics_file: join(dir, `${object}.yaml`), poll_interval: '1h' }),
  )) as EbpfReceiver;
}

/** metric → cgroup id (the raw label, before the cgroup decoder) → calls, from one read. */
async function counts(receiver: EbpfReceiver): Promise<Map<string, Map<bigint, number>>> {
  const out = new Map<string, Map<bigint, number>>();
  for (const f of (await batchOnce(receiver)).families) {
    const m = new Map<bigint, number>();
    for (const p of f.points) m.set(BigInt(String(p.labels[0]?.value)), p.value);
    out.set(f.name, m);
  }
  return out;
}

test(
  'cgroup_id_map (hash): matching cgroups are in the map, counted apart, followed as they come and go',
  { skip, timeout: 120_000 },
  async () => {
    const root = join(mount as string, `ebpf-collector-idmap-${process.pid}`);
    const matchA = join(root, 'match-a');
    const matchB = join(root, 'match-b');
    const other = join(root, 'other');
    mkdirSync(matchA, { recursive: true });
    mkdirSync(other);
    const receiver = await receiverOf('cgroup_id_map', [
      `^.*/ebpf-collector-idmap-${process.pid}/match-[a-z]+$`,
    ]);
    try {
      await receiver.start(host());
      const idMap = receiver.cgroupIdMap;
      assert.ok(idMap, 'the receiver keeps the cgroup_id_map');
      // Filled at start with the cgroups that match, and only those.
      assert.deepEqual(idMap.kernelIds(), [ino(matchA)]);

      await getppidIn(matchA);
      await getppidIn(other);
      let c = await counts(receiver);
      assert.equal(c.get('getppid_matched_calls_total')?.get(ino(matchA)), CALLS);
      assert.equal(c.get('getppid_matched_calls_total')?.get(ino(other)), undefined);
      assert.equal(c.get('getppid_not_matched_calls_total')?.get(ino(other)), CALLS);
      assert.equal(c.get('getppid_not_matched_calls_total')?.get(ino(matchA)), undefined);

      // A matching cgroup made after start joins the map, and its calls are counted as matched.
      mkdirSync(matchB);
      const idB = ino(matchB);
      await until(() => idMap.kernelIds().includes(idB), 'match-b in the kernel map', 10_000, 20);
      await getppidIn(matchB);
      c = await counts(receiver);
      assert.equal(c.get('getppid_matched_calls_total')?.get(idB), CALLS);
      assert.equal(c.get('getppid_not_matched_calls_total')?.get(idB), undefined);

      // Removed: its id leaves the map; the others stay.
      await rmdirRetry(matchB);
      await until(() => !idMap.kernelIds().includes(idB), 'match-b gone from the kernel map', 10_000, 20);
      assert.deepEqual(idMap.kernelIds(), [ino(matchA)]);
    } finally {
      await receiver.shutdown();
      for (const d of [matchB, matchA, other, root]) await rmdirRetry(d);
    }
  },
);

test(
  'cgroup_id_map (cgrp_storage): the storage of matching cgroups is set, also for one made after start',
  { skip, timeout: 120_000 },
  async () => {
    const root = join(mount as string, `ebpf-collector-idmapst-${process.pid}`);
    const matchA = join(root, 'match-a');
    const matchB = join(root, 'match-b');
    const other = join(root, 'other');
    mkdirSync(matchA, { recursive: true });
    mkdirSync(other);
    const receiver = await receiverOf('cgroup_id_map_storage', [
      `^.*/ebpf-collector-idmapst-${process.pid}/match-[a-z]+$`,
    ]);
    try {
      await receiver.start(host());
      const idMap = receiver.cgroupIdMap;
      assert.ok(idMap);
      assert.deepEqual([...idMap.ids], [ino(matchA)]);
      await getppidIn(matchA);
      await getppidIn(other);
      let c = await counts(receiver);
      const matched = (): Map<bigint, number> | undefined => c.get('getppid_storage_matched_calls_total');
      assert.equal(matched()?.get(ino(matchA)), CALLS);
      assert.equal(matched()?.get(ino(other)), undefined, 'a cgroup without the storage is not counted');

      mkdirSync(matchB);
      const idB = ino(matchB);
      await until(() => idMap.ids.has(idB), 'match-b marked', 10_000, 20);
      await getppidIn(matchB);
      c = await counts(receiver);
      assert.equal(matched()?.get(idB), CALLS);
      await rmdirRetry(matchB);
      await until(() => !idMap.ids.has(idB), 'match-b forgotten', 10_000, 20);
    } finally {
      await receiver.shutdown();
      for (const d of [matchB, matchA, other, root]) await rmdirRetry(d);
    }
  },
);
