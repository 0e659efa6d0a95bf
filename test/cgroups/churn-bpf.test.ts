/**
 * Container churn with events flowing through BPF: test/bpf/cgroup_getppid.bpf.c
 * counts getppid(2) by bpf_get_current_cgroup_id() while kubelet-shaped
 * containerd cgroups are created in batches under the cgroup2 mount, a short
 * process runs in each (spawned blocked on stdin, moved into the cgroup, then
 * released, so every one of its calls is made inside it), and the cgroups are
 * removed. The map is read through the real ebpf receiver and the `cgroup` and
 * `container` processors' operators after every batch.
 *
 * Needs root, a writable cgroup2 mount, tracefs and build/bpf/cgroup_getppid.bpf.o
 * (`make -C bpf`); skips without root or cgroup2. Every cgroup made here is
 * removed in `finally`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { firstValueFrom, from } from 'rxjs';
import { findCgroup2Mount } from '../../src/kernel/cgroup-table.ts';
import { assemble } from '../../src/pipeline/assemble.ts';
import type { ScalarPoint } from '../../src/pipeline/data.ts';
import { configSchema as cgroupConfig } from '../../src/processors/cgroup/config.ts';
import { cgroupProcessorFactory } from '../../src/processors/cgroup/factory.ts';
import type { CgroupProcessor } from '../../src/processors/cgroup/processor.ts';
import { configSchema as containerConfig } from '../../src/processors/container/config.ts';
import { containerProcessorFactory } from '../../src/processors/container/factory.ts';
import { configSchema as ebpfConfig } from '../../src/receivers/ebpf/config.ts';
import { ebpfReceiverFactory } from '../../src/receivers/ebpf/factory.ts';
import type { EbpfReceiver } from '../../src/receivers/ebpf/receiver.ts';
import { host, ino, logger, removeTree, rmdirRetry, skipReason } from './helpers.ts';
import { runInCgroup } from '../helpers/cgroup-child.ts';
import { batchOnce } from '../helpers/program-run.ts';

const repo = join(import.meta.dirname, '..', '..');
const mount = findCgroup2Mount();
const skip = skipReason(mount, 'cgroup2 mount');

const TOTAL = Number(process.env['CHURN_TOTAL'] ?? 1_000);
const BATCH = 50;
const CALLS = 10;
const SCRIPT = `import os, sys\nsys.stdin.read(1)\nfor _ in range(${CALLS}): os.getppid()\n`;

interface Container {
  readonly path: string;
  readonly cgroupId: bigint;
  readonly containerId: string;
  readonly podUid: string;
  removed: boolean;
}

test(
  'real BPF + cgroups: getppid by cgroup id through receiver → cgroup → container during churn',
  { skip, timeout: 600_000 },
  async (t) => {
    const obj = join(repo, 'build', 'bpf', 'cgroup_getppid.bpf.o');
    assert.ok(existsSync(obj), `${obj} is missing: run make -C bpf`);
    const root = join(mount as string, `ebpf-collector-bpfchurn-${process.pid}`);
    const receiver = (await ebpfReceiverFactory.create(
      { id: 'ebpf/churn', logger, configDir: repo },
      ebpfConfig.parse({
        program: obj,
        metrics_file: 'test/bpf/cgroup_getppid.yaml',
        poll_interval: '1h',
      }),
    )) as EbpfReceiver;
    const cgroupProc = (await cgroupProcessorFactory.create(
      { id: 'cgroup/churn', logger, configDir: '.' },
      cgroupConfig.parse({ deleted_grace: '5m', rescan_interval: '5s' }),
    )) as CgroupProcessor;
    const containerProc = await containerProcessorFactory.create(
      { id: 'container', logger, configDir: '.' },
      containerConfig.parse({}),
    );
    const made: Container[] = [];
    const byPath = new Map<string, Container>();
    const byContainerId = new Map<string, Container>();
    const started = Date.now();
    let reads = 0;
    let checkedSeries = 0;

    /** One scrape: receiver poll → cgroup → container → assembled series. */
    const scrape = async (): Promise<ScalarPoint[]> => {
      const out = await firstValueFrom(
        from([await batchOnce(receiver)]).pipe(cgroupProc.operator, containerProc.operator),
      );
      reads++;
      return (assemble(out.families)[0]?.points ?? []) as ScalarPoint[];
    };

    /** Every container made so far, live or removed (within the grace), has its own series and only it. */
    const check = (points: readonly ScalarPoint[]): void => {
      const seen = new Set<Container>();
      for (const p of points) {
        const cgroup = p.labels['cgroup'] ?? '';
        const cid = p.labels['container_id'];
        const mine = byPath.get(cgroup);
        const claimed = cid === undefined ? undefined : byContainerId.get(cid);
        if (mine === undefined && claimed === undefined) {
          const m = /^unknown_cgroup_id:(\d+)$/.exec(cgroup);
          if (m) {
            const id = BigInt(m[1] as string);
            const lost = made.find((c) => c.cgroupId === id);
            assert.equal(
              lost,
              undefined,
              `${lost?.path} (${lost?.removed ? 'removed' : 'live'}) decoded as ${cgroup}`,
            );
          }
          continue; // another process's cgroup on this host
        }
        assert.ok(mine, `series ${JSON.stringify(p.labels)} carries our container_id on another cgroup`);
        assert.equal(cid, mine.containerId, `${mine.path}: container_id`);
        assert.equal(p.labels['container_runtime'], 'containerd');
        assert.equal(p.labels['k8s_pod_uid'], mine.podUid);
        assert.equal(p.labels['k8s_pod_qos'], 'burstable');
        assert.equal(p.value, CALLS, `${mine.path}: getppid calls counted in its cgroup`);
        assert.ok(!seen.has(mine), `${mine.path}: one series`);
        seen.add(mine);
        checkedSeries++;
      }
      const missing = made.filter((c) => !seen.has(c));
      assert.equal(
        missing.length,
        0,
        `no series for ${missing.length} containers, e.g. ${missing[0]?.path} (${missing[0]?.removed ? 'removed' : 'live'})`,
      );
    };

    try {
      await receiver.start(host());
      await cgroupProc.start(host());
      const pods = Array.from({ length: 4 }, () => {
        const uid = randomUUID();
        const dir = join(
          root,
          'kubepods.slice',
          'kubepods-burstable.slice',
          `kubepods-burstable-pod${uid.replaceAll('-', '_')}.slice`,
        );
        mkdirSync(dir, { recursive: true });
        return { uid, dir };
      });
      let longestBatch = 0;
      while (made.length < TOTAL) {
        const t0 = Date.now();
        const fresh: Container[] = [];
        for (let i = 0; i < BATCH && made.length < TOTAL; i++) {
          const pod = pods[made.length % pods.length] as (typeof pods)[number];
          const containerId = randomBytes(32).toString('hex');
          const path = join(pod.dir, `cri-containerd-${containerId}.scope`);
          mkdirSync(path);
          const c: Container = { path, cgroupId: ino(path), containerId, podUid: pod.uid, removed: false };
          made.push(c);
          fresh.push(c);
          byPath.set(path, c);
          byContainerId.set(containerId, c);
        }
        await Promise.all(fresh.map((c) => runInCgroup(c.path, SCRIPT)));
        // First read: the new containers are live; every earlier one is removed, within the grace.
        check(await scrape());
        for (const c of fresh) {
          await rmdirRetry(c.path, 5);
          c.removed = true;
        }
        longestBatch = Math.max(longestBatch, Date.now() - t0);
      }
      // After the last removals: every container, all removed now, still resolves.
      check(await scrape());
      const ms = Date.now() - started;
      t.diagnostic(
        `bpf churn: ${made.length} containers in batches of ${BATCH}, ${reads} reads, ${checkedSeries} series checked, ` +
          `${cgroupProc.table?.scans} rescans, ${cgroupProc.table?.events} events, longest batch ${longestBatch} ms, ${ms} ms`,
      );
    } finally {
      await receiver.shutdown();
      await cgroupProc.shutdown();
      await removeTree(root);
    }
  },
);
