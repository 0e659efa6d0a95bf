/**
 * oomkill on the real kernel: a memory cgroup limited to 16 MiB and a Python
 * child that allocates past it → the kernel OOM-kills the child → exactly one
 * perf event record for that memory cgroup, counted by the metric of the hook
 * set that runs here (oom_kills_total with kprobes, oom_kill_victims_total on
 * the tp_btf fallback; bpf/oomkill.md), decoded to the cgroup's path by the
 * cgroup processor following the memory hierarchy.
 *
 * Needs root and a writable memory controller (v1 hierarchy on hybrid hosts,
 * the cgroup2 mount otherwise; found in /proc/self/mountinfo). The cgroup is
 * removed in `finally`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { firstValueFrom, from } from 'rxjs';
import { findCgroup2Mount } from '../../src/kernel/cgroup-table.ts';
import { findCgroupV1Mount } from '../../src/kernel/cgroups.ts';
import { readMountInfo } from '../../src/kernel/mountinfo.ts';
import { assemble } from '../../src/pipeline/assemble.ts';
import type { MetricBatch, ScalarPoint } from '../../src/pipeline/data.ts';
import { configSchema as cgroupConfig } from '../../src/processors/cgroup/config.ts';
import { cgroupProcessorFactory } from '../../src/processors/cgroup/factory.ts';
import { configSchema } from '../../src/receivers/ebpf/config.ts';
import { ebpfReceiverFactory } from '../../src/receivers/ebpf/factory.ts';
import type { EbpfReceiver } from '../../src/receivers/ebpf/receiver.ts';
import { host, logger, rmdirRetry, skipReason, sleep } from '../cgroups/helpers.ts';
import { repoRoot } from '../helpers/agent.ts';
import { spawnInCgroup } from '../helpers/cgroup-child.ts';
import { expectedHook } from '../helpers/kernel-features.ts';

const v1Memory = findCgroupV1Mount('memory', readMountInfo());
const unified = findCgroup2Mount();
const memoryRoot =
  v1Memory ??
  (unified && readFileSync(join(unified, 'cgroup.controllers'), 'utf8').includes('memory')
    ? unified
    : undefined);
const skip = skipReason(memoryRoot, 'memory controller');

/** Python that, once in its cgroup, touches 1 MiB chunks until the OOM killer stops it. */
const HOG = `
import sys
sys.stdin.read(1)
chunks = []
for i in range(512):
    chunks.append(bytearray(1 << 20))
print("survived", flush=True)
`;

test('oomkill: one OOM kill in a 16 MiB memory cgroup → +1 for exactly that cgroup', { skip }, async () => {
  const root = memoryRoot as string;
  const dir = join(root, `ebpf-collector-oom-${process.pid}`);
  const hook = expectedHook(['kprobe', 'tp_btf']);
  const metric = hook === 'kprobe' ? 'oom_kills_total' : 'oom_kill_victims_total';
  const receiver = (await ebpfReceiverFactory.create(
    { id: 'ebpf/oomkill', logger, configDir: repoRoot },
    configSchema.parse({ program: 'oomkill', poll_interval: '1h' }),
  )) as EbpfReceiver;
  const proc = await cgroupProcessorFactory.create(
    { id: 'cgroup', logger, configDir: repoRoot },
    cgroupConfig.parse({ hierarchies: v1Memory ? ['memory', 'unified'] : ['unified'] }),
  );
  mkdirSync(dir);
  try {
    if (v1Memory) writeFileSync(join(dir, 'memory.limit_in_bytes'), String(16 << 20));
    else writeFileSync(join(dir, 'memory.max'), String(16 << 20));
    await proc.start(host());
    await receiver.start(host());
    assert.equal(receiver.hook, hook);

    const child = await spawnInCgroup(dir, ['-c', HOG]);
    child.send('x');
    const { signal, stdout: out } = await child.finish();
    assert.equal(signal, 'SIGKILL', `the child was not OOM-killed (stdout: ${out.trim()})`);

    // The record is read by the perf buffer's poll or the next drain.
    let batch: MetricBatch | undefined;
    const counts = async (): Promise<Map<string, number>> => {
      const sub = receiver.output$.subscribe((b) => (batch = b));
      await receiver.collectNow();
      sub.unsubscribe();
      const decoded = await firstValueFrom(from([batch as MetricBatch]).pipe(proc.operator));
      const fam = assemble(decoded.families).find((f) => f.name === metric);
      return new Map(
        ((fam?.points ?? []) as ScalarPoint[]).map((p) => [p.labels['cgroup_path'] as string, p.value]),
      );
    };
    let got = await counts();
    for (let i = 0; i < 50 && !got.has(dir); i++) {
      await sleep(20);
      got = await counts();
    }
    assert.equal(got.get(dir), 1, `counts by cgroup: ${JSON.stringify([...got])}`);
    const stats = receiver.events?.stats()['oom_kills_total'];
    assert.equal(stats?.kernelDropped, 0);
    assert.equal(stats?.dropped, 0);
  } finally {
    await receiver.shutdown();
    await proc.shutdown();
    await rmdirRetry(dir);
  }
});
