/**
 * Real cgroup v1 on a hybrid host: the `cgroup` processor with
 * `hierarchies: [unified, pids]` resolves ids of v1 `pids` cgroups (inodes of
 * their directories) to /sys/fs/cgroup/pids/... paths, follows new and removed
 * ones, and lets cgroup2 win where ids collide (every hierarchy's root is id 1).
 *
 * Needs root and a writable v1 `pids` hierarchy (found in /proc/self/mountinfo);
 * skips otherwise. Every cgroup made here is removed in `finally`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { firstValueFrom, from } from 'rxjs';
import { findCgroup2Mount } from '../../src/kernel/cgroup-table.ts';
import { findCgroupV1Mount } from '../../src/kernel/cgroups.ts';
import { readMountInfo } from '../../src/kernel/mountinfo.ts';
import { configSchema as cgroupConfig } from '../../src/processors/cgroup/config.ts';
import { cgroupProcessorFactory } from '../../src/processors/cgroup/factory.ts';
import type { CgroupProcessor } from '../../src/processors/cgroup/processor.ts';
import { configSchema as containerConfig } from '../../src/processors/container/config.ts';
import { containerProcessorFactory } from '../../src/processors/container/factory.ts';
import { batchOf, host, ino, logger, rmdirRetry, skipReason, sleep } from './helpers.ts';

const unified = findCgroup2Mount();
const pids = findCgroupV1Mount('pids', readMountInfo());
const skip = unified === undefined ? 'no cgroup2 mount' : skipReason(pids, 'cgroup v1 pids hierarchy');

/** rmdir, retrying while a killed task is still leaving the cgroup (EBUSY). */

test(
  'real cgroup v1: pids hierarchy ids → /sys/fs/cgroup/pids/... paths and container labels',
  { skip },
  async () => {
    const v1 = pids as string;
    const base = join(v1, `ebpf-collector-v1-${process.pid}`);
    const cid = 'a'.repeat(63) + '1';
    const before = join(base, 'kubepods', 'besteffort', 'pod0c9b3d3e-6d4b-4a57-9a53-6f0b1e4f2a10', cid);
    const later = join(base, 'docker', 'b'.repeat(64));
    const proc = (await cgroupProcessorFactory.create(
      { id: 'cgroup/v1', logger, configDir: '.' },
      cgroupConfig.parse({ hierarchies: ['unified', 'pids'], deleted_grace: '5m' }),
    )) as CgroupProcessor;
    const containerProc = await containerProcessorFactory.create(
      { id: 'container', logger, configDir: '.' },
      containerConfig.parse({}),
    );
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      mkdirSync(before, { recursive: true });
      await proc.start(host());
      assert.deepEqual(
        proc.tables.map((t) => [t.root, t.mode]),
        [
          [unified, 'inotify'],
          [v1, 'inotify'],
        ],
      );
      // The kernel puts a process there: /proc/<pid>/cgroup names the v1 path of the pids hierarchy.
      writeFileSync(join(before, 'cgroup.procs'), String(child.pid));
      const line = readFileSync(`/proc/${child.pid}/cgroup`, 'utf8')
        .split('\n')
        .find((l) => /^\d+:pids:/.test(l));
      assert.equal(join(v1, (line as string).replace(/^\d+:pids:/, '')), before);

      // Created after start: found by the watch on the v1 hierarchy.
      mkdirSync(later, { recursive: true });
      const ids = [ino(before), ino(later)];
      const t0 = Date.now();
      while (ids.some((id) => proc.tables[1]?.resolve(id) === undefined)) {
        assert.ok(Date.now() - t0 < 2_000, 'the new v1 cgroup was not seen in 2 s');
        await sleep(2);
      }
      // Every v1 id here that is not also a live cgroup2 id resolves to its v1 path.
      const v2 = proc.tables[0];
      const out = await firstValueFrom(
        from([batchOf([...ids, 1n], 'v1_events_total')]).pipe(proc.operator, containerProc.operator),
      );
      const got = (out.families[0]?.points ?? []).map((p) =>
        Object.fromEntries(p.labels.map((l) => [l.name, String(l.value)])),
      );
      ids.forEach((id, i) => {
        const want = v2?.resolve(id) ?? [before, later][i];
        assert.equal(got[i]?.['cgroup'], want, `id ${id}`);
      });
      if (v2?.resolve(ids[0] as bigint) === undefined) {
        assert.equal(got[0]?.['container_id'], cid);
        assert.equal(got[0]?.['k8s_pod_qos'], 'besteffort');
      }
      if (v2?.resolve(ids[1] as bigint) === undefined) {
        assert.equal(got[1]?.['container_id'], 'b'.repeat(64));
        assert.equal(got[1]?.['container_runtime'], 'docker');
      }
      // Id 1 is the root of every hierarchy: cgroup2 wins, as in ebpf_exporter.
      assert.equal(got[2]?.['cgroup'], unified);

      // Removed: still resolves within the grace.
      rmdirSync(later);
      await sleep(20);
      assert.equal(proc.tables[1]?.resolve(ids[1] as bigint), later);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      await proc.shutdown();
      for (const dir of [
        later,
        before,
        join(before, '..'),
        join(before, '../..'),
        join(base, 'kubepods'),
        join(base, 'docker'),
        base,
      ]) {
        await rmdirRetry(dir);
      }
    }
  },
);
