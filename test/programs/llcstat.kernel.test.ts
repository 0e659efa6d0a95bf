/**
 * llcstat needs hardware perf events. Where the kernel has no PMU (a VM) the
 * agent skips it with "no hardware PMU (virtualised?)" — in its log, in
 * ebpf_collector_program_hook_rejected and, as it is required here (not
 * `optional: true`), as ebpf_collector_program_attached{hook="none"} 0 and a
 * 503 from /readyz naming it — while the rest of the pipeline runs: timers is
 * served, and a program on the post-attach mark ran exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { supportedHooks } from '../helpers/kernel-features.ts';
import { httpGet, repoRoot, samples, startAgent } from '../helpers/agent.ts';

const NO_PMU = 'no hardware PMU (virtualised?)';

function pipeline(): string {
  return `receivers:
  ebpf/llcstat:
    program: llcstat
  ebpf/timers:
    program: timers
  ebpf/post_attach:
    program: ${join(repoRoot, 'build', 'bpf', 'post_attach.bpf.o')}
    metrics:
      counters:
        - name: post_attach_marks_total
          help: Calls of the agent's post-attach mark
processors:
  ksym: {}
exporters:
  prometheus:
    endpoint: \${env:EBPF_COLLECTOR_LISTEN}
service:
  pipelines:
    metrics:
      receivers: [ebpf/llcstat, ebpf/timers, ebpf/post_attach]
      processors: [ksym]
      exporters: [prometheus]
`;
}

test('llcstat without a hardware PMU is skipped with its reason, not ready; timers and the post-attach program run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llcstat-'));
  const config = join(dir, 'pipeline.yaml');
  writeFileSync(config, pipeline());
  const agent = await startAgent([config]);
  try {
    const { body } = await httpGet(agent.port, '/metrics');
    assert.ok(samples(body, 'ebpf_exporter_timer_starts_total').length > 0, 'timers served');
    assert.deepEqual(
      samples(body, 'ebpf_exporter_post_attach_marks_total').map((s) => s.value),
      [1],
      'the post-attach program ran once',
    );
    const attached = samples(body, 'ebpf_collector_program_attached').filter(
      (s) => s.labels['config'] === 'llcstat',
    );
    const programs = ['perf_event__llc_references', 'perf_event__llc_misses'];
    if (supportedHooks().has('perf_event_hw')) {
      assert.ok(attached.some((s) => s.value === 1 && s.labels['hook'] === 'perf_event'));
      assert.ok(samples(body, 'ebpf_exporter_llc_references_total').length > 0);
      return;
    }
    // The set fails at its first program; every program of the set is reported rejected with the reason.
    const rejected = samples(body, 'ebpf_collector_program_hook_rejected').filter(
      (s) => s.labels['config'] === 'llcstat',
    );
    assert.deepEqual(
      rejected.map((s) => [s.labels['program'], s.labels['hook'], s.labels['reason'], s.value]).sort(),
      programs.map((p) => [p, 'perf_event', NO_PMU, 1]).sort(),
    );
    // A required program that runs nowhere: one 0 series, and the agent is not ready.
    assert.deepEqual(
      attached.map((s) => [s.labels['program'], s.labels['hook'], s.labels['reason'], s.value]),
      [['', 'none', NO_PMU, 0]],
    );
    const ready = await httpGet(agent.port, '/readyz');
    assert.equal(ready.status, 503);
    assert.match(
      ready.body,
      /^not ready \(running\)\nnot ready:\n {2}receiver ebpf\/llcstat: program llcstat runs on no hook set of this kernel \(perf_event: .*no hardware PMU/,
    );
    assert.doesNotMatch(ready.body, /ebpf\/timers/);
    assert.equal(samples(body, 'ebpf_exporter_llc_references_total').length, 0);
    const log = agent.logs.join('\n');
    assert.match(log, /program llcstat cannot run on this kernel: skipped, the rest of the pipeline runs/);
    assert.ok(log.includes(`${NO_PMU}: ENOENT`), 'the log names the reason and the errno');
  } finally {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
