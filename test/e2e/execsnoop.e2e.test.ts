/**
 * pipelines/execsnoop.yaml end to end: the agent as shipped, a Python child in a fresh
 * cgroup2 cgroup runs /bin/true N times → Prometheus shows
 * ebpf_exporter_exec_total{comm="true",cgroup=<it>} = N and a loopback OTLP/gRPC
 * receiver gets N `exec` log records for that cgroup, with pid/ppid as int attributes.
 * Needs root and a writable cgroup2 mount; the cgroup is removed in `finally`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { findCgroup2Mount } from '../../src/kernel/cgroup-table.ts';
import { rmdirRetry, skipReason } from '../cgroups/helpers.ts';
import { httpGet, repoRoot, samples, startAgent } from '../helpers/agent.ts';
import { execsInCgroup } from '../helpers/program-run.ts';
import { logRecordsOf, startOtlpReceiver, typedAttributes } from '../helpers/otlp-receiver.ts';

const unified = findCgroup2Mount();
const skip = skipReason(unified, 'cgroup2 mount');
const N = 5;

async function until(
  cond: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test(
  'pipelines/execsnoop.yaml: exec_total on /metrics and exec log records over OTLP',
  { skip },
  async () => {
    const otlp = await startOtlpReceiver();
    const dir = join(unified as string, `ebpf-collector-exec-e2e-${process.pid}`);
    mkdirSync(dir);
    try {
      const agent = await startAgent([join(repoRoot, 'pipelines', 'execsnoop.yaml')], {
        OTLP_ENDPOINT: `http://${otlp.endpoint}`,
      });
      try {
        const runner = await execsInCgroup(dir, N);

        const mine = () =>
          otlp.logCalls
            .flatMap(logRecordsOf)
            .filter(
              ({ record }) =>
                JSON.stringify(typedAttributes(record.attributes)['cgroup']) === JSON.stringify({ s: dir }),
            );
        await until(() => mine().length >= N, `${N} log records for ${dir}`);
        const logs = mine();
        assert.equal(logs.length, N);
        for (const { record } of logs) {
          const attrs = typedAttributes(record.attributes);
          assert.equal(record.eventName, 'exec');
          assert.deepEqual(attrs['comm'], { s: 'true' });
          assert.deepEqual(attrs['ppid'], { i: String(runner) });
          assert.match(
            record.body?.stringValue ?? '',
            new RegExp(`^exec true pid=\\d+ ppid=${runner} cgroup=${dir}$`),
          );
        }

        let value: number | undefined;
        await until(async () => {
          const { body } = await httpGet(agent.port, '/metrics');
          value = samples(body, 'ebpf_exporter_exec_total').find((s) => s.labels['cgroup'] === dir)?.value;
          return value !== undefined;
        }, 'exec_total for the test cgroup');
        assert.equal(value, N);
        const { body } = await httpGet(agent.port, '/metrics');
        const kernel = samples(body, 'ebpf_collector_events_kernel_dropped_total').find(
          (s) => s.labels['map'] === 'events' && s.labels['reason'] === 'reserve',
        );
        assert.equal(kernel?.value, 0);
        // A healthy run with its OTLP peer up is quiet: no warn or error line; ready.
        assert.deepEqual(
          agent.logs.filter((l) => /"level":"(warn|error|fatal)"/.test(l)),
          [],
        );
        assert.deepEqual(
          [(await httpGet(agent.port, '/readyz')).status, (await httpGet(agent.port, '/readyz')).body],
          [200, 'ready\n'],
        );
      } finally {
        assert.equal(await agent.stop(), 0, agent.logs.join('\n'));
      }
    } finally {
      await rmdirRetry(dir);
      await otlp.close();
    }
  },
);
