/**
 * bpf/cgroup: scheduler migrations by the migrated task's cgroup. A python
 * child is spawned blocked on stdin, moved into a cgroup2 directory of its own
 * (under the cgroup2 mount found in mountinfo), released, and hops between two
 * CPUs with sched_setaffinity N times: every hop moves the running task to the
 * other CPU (one sched_migrate_task event). The series is read through the real
 * ebpf receiver and the `cgroup` processor, which decodes the id to the path.
 *
 * Every hook set that works here is run (tp_btf is preferred; raw_tp and the
 * classic tracepoint with its bpf_task_from_pid lookup are forced with
 * `hooks:`). Needs root, 2 CPUs, a writable cgroup2 mount.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, from } from 'rxjs';
import { findCgroup2Mount } from '../../src/kernel/cgroup-table.ts';
import { assemble } from '../../src/pipeline/assemble.ts';
import type { ScalarPoint } from '../../src/pipeline/data.ts';
import { configSchema as cgroupConfig } from '../../src/processors/cgroup/config.ts';
import { cgroupProcessorFactory } from '../../src/processors/cgroup/factory.ts';
import type { CgroupProcessor } from '../../src/processors/cgroup/processor.ts';
import { configSchema } from '../../src/receivers/ebpf/config.ts';
import { ebpfReceiverFactory } from '../../src/receivers/ebpf/factory.ts';
import type { EbpfReceiver } from '../../src/receivers/ebpf/receiver.ts';
import { repoRoot } from '../helpers/agent.ts';
import { runInCgroup } from '../helpers/cgroup-child.ts';
import { batchOnce } from '../helpers/program-run.ts';
import { expectedHook } from '../helpers/kernel-features.ts';
import { host, logger, rmdirRetry, skipReason } from '../cgroups/helpers.ts';

const HOPS = 20;
const METRIC = 'cgroup_sched_migrations_total';
const PREFERENCE = ['tp_btf', 'raw_tp', 'tracepoint'] as const;

const mount = findCgroup2Mount();
const skip = skipReason(mount, 'cgroup2 mount') || (availableParallelism() < 2 ? 'needs 2 CPUs' : false);

/** The hops: pin to CPU 0 first (may or may not move), then alternate 1, 0, 1, … HOPS times. */
const SCRIPT = `import os, sys
sys.stdin.read(1)
os.sched_setaffinity(0, {0})
for i in range(${HOPS}):
    os.sched_setaffinity(0, {(i + 1) % 2})
`;

for (const forced of [undefined, 'raw_tp', 'tracepoint'] as const) {
  test(
    `cgroup via ${forced ?? 'the preferred hook'}: ${HOPS} CPU hops of a child in its own cgroup2 are counted for that cgroup's path`,
    { skip, timeout: 60_000 },
    async (t) => {
      const dir = join(mount as string, `ebpf-collector-cgroup-prog-${process.pid}`);
      const receiver = (await ebpfReceiverFactory.create(
        { id: 'ebpf/cgroup', logger, configDir: repoRoot },
        configSchema.parse({
          program: 'cgroup',
          poll_interval: '1h',
          ...(forced ? { hooks: [forced] } : {}),
        }),
      )) as EbpfReceiver;
      const cgroups = (await cgroupProcessorFactory.create(
        { id: 'cgroup', logger, configDir: repoRoot },
        cgroupConfig.parse({}),
      )) as CgroupProcessor;
      const scrape = async (): Promise<Map<string, number>> => {
        const out = await firstValueFrom(from([await batchOnce(receiver)]).pipe(cgroups.operator));
        const points = (assemble(out.families).find((f) => f.name === METRIC)?.points ?? []) as ScalarPoint[];
        return new Map(points.map((p) => [p.labels['cgroup'] as string, p.value]));
      };
      mkdirSync(dir);
      try {
        await cgroups.start(host());
        await receiver.start(host());
        if (forced === 'tracepoint' && receiver.hook !== forced) {
          // bpf_task_from_pid() is a 6.2 kfunc: older kernels refuse this set at load.
          const attempt = receiver.attempts.find((a) => a.hook === forced);
          assert.match(attempt?.reason ?? '', /ERR_BPF_(LOAD|VERIFIER)/, attempt?.reason);
          t.skip(`the tracepoint set needs bpf_task_from_pid (6.2+): ${attempt?.reason}`);
          return;
        }
        assert.equal(receiver.hook, forced ?? expectedHook(PREFERENCE));
        const before = await scrape();
        assert.equal(before.get(dir), undefined, 'a fresh cgroup has no migrations yet');
        await runInCgroup(dir, SCRIPT); // every hop made inside the cgroup
        const after = await scrape();
        const moved = after.get(dir) ?? 0;
        t.diagnostic(`${receiver.hook}: ${moved} migrations counted for ${HOPS} hops`);
        // Each hop moves the running task once; the pin before them, wake-ups
        // after the blocking read, the exit and the scheduler's own balancing
        // add a few more (26 for 20 hops seen in a qemu TCG guest), never fewer.
        // Twice the hops would mean each migration was counted twice.
        assert.ok(moved >= HOPS, `${dir}: ${moved} migrations for ${HOPS} hops`);
        assert.ok(moved < 2 * HOPS, `${dir}: ${moved} migrations for ${HOPS} hops (counted twice?)`);
        for (const [cgroup, v] of after) {
          assert.ok(v >= (before.get(cgroup) ?? 0), `${cgroup}: a counter went backwards`);
        }
      } finally {
        await receiver.shutdown();
        await cgroups.shutdown();
        await rmdirRetry(dir);
      }
    },
  );
}
