/**
 * execsnoop on the real kernel: a Python child joins a fresh cgroup2 cgroup and
 * runs /bin/true N times (fork + exec) → exec_total{comm="true",cgroup=<that
 * cgroup>} is exactly N, and N log records name comm, pid, ppid (the child)
 * and the cgroup path. Both hook sets: the preferred one the kernel offers,
 * and the tracepoint fallback forced through `hooks:`.
 *
 * Needs root and a writable cgroup2 mount (found in /proc/self/mountinfo).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { firstValueFrom, from } from 'rxjs';
import { findCgroup2Mount } from '../../src/kernel/cgroup-table.ts';
import { assemble } from '../../src/pipeline/assemble.ts';
import type { LogRecordData, MetricBatch, ScalarPoint } from '../../src/pipeline/data.ts';
import { configSchema as cgroupConfig } from '../../src/processors/cgroup/config.ts';
import { cgroupProcessorFactory } from '../../src/processors/cgroup/factory.ts';
import { configSchema } from '../../src/receivers/ebpf/config.ts';
import { ebpfReceiverFactory } from '../../src/receivers/ebpf/factory.ts';
import type { EbpfReceiver } from '../../src/receivers/ebpf/receiver.ts';
import { host, logger, rmdirRetry, skipReason } from '../cgroups/helpers.ts';
import { repoRoot } from '../helpers/agent.ts';
import { execsInCgroup } from '../helpers/program-run.ts';
import { expectedHook } from '../helpers/kernel-features.ts';

const unified = findCgroup2Mount();
const skip = skipReason(unified, 'cgroup2 mount');
const N = 7;

for (const forced of [undefined, ['tracepoint']]) {
  const hook = forced ? 'tracepoint' : expectedHook(['tp_btf', 'tracepoint']);
  test(
    `execsnoop (${hook}): /bin/true run ${N} times in a test cgroup → exec_total +${N} and ${N} log records`,
    { skip },
    async () => {
      const dir = join(unified as string, `ebpf-collector-exec-${process.pid}-${hook}`);
      const receiver = (await ebpfReceiverFactory.create(
        { id: 'ebpf/execsnoop', logger, configDir: repoRoot },
        configSchema.parse({
          program: 'execsnoop',
          poll_interval: '1h',
          ...(forced ? { hooks: forced } : {}),
        }),
      )) as EbpfReceiver;
      const proc = await cgroupProcessorFactory.create(
        { id: 'cgroup', logger, configDir: repoRoot },
        cgroupConfig.parse({}),
      );
      const logs: LogRecordData[] = [];
      assert.ok(receiver.logs$);
      receiver.logs$.subscribe((b) => logs.push(...b.records.filter((r) => r.attributes['cgroup'] === dir)));
      mkdirSync(dir);
      try {
        await proc.start(host());
        await receiver.start(host());
        assert.equal(receiver.hook, hook);
        const runner = await execsInCgroup(dir, N);
        await new Promise((r) => setTimeout(r, 100)); // past one drain interval
        receiver.events?.flush();

        let batch: MetricBatch | undefined;
        const sub = receiver.output$.subscribe((b) => (batch = b));
        await receiver.collectNow();
        sub.unsubscribe();
        const decoded = await firstValueFrom(from([batch as MetricBatch]).pipe(proc.operator));
        const fam = assemble(decoded.families).find((f) => f.name === 'exec_total');
        const inDir = ((fam?.points ?? []) as ScalarPoint[]).filter((p) => p.labels['cgroup'] === dir);
        assert.deepEqual(
          inDir.map((p) => [p.labels['comm'], p.value]),
          [['true', N]],
        );

        assert.equal(logs.length, N);
        const pids = new Set(logs.map((l) => l.attributes['pid']));
        assert.equal(pids.size, N, 'one record per process');
        for (const l of logs) {
          assert.equal(l.eventName, 'exec');
          assert.equal(l.attributes['comm'], 'true');
          assert.equal(l.attributes['ppid'], runner, 'the runner is the parent');
          assert.equal(l.body, `exec true pid=${l.attributes['pid']} ppid=${runner} cgroup=${dir}`);
        }
        assert.equal(receiver.events?.stats()['events']?.kernelDropped, 0);
      } finally {
        await receiver.shutdown();
        await proc.shutdown();
        await rmdirRetry(dir);
      }
    },
  );
}
