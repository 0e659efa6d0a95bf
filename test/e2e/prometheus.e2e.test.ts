import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROMETHEUS, query, until, startPrometheus } from '../helpers/prometheus-api.ts';
import { repoRoot, startAgent } from '../helpers/agent.ts';

const PYTHON = '/usr/bin/python3';

test('real Prometheus scrapes the agent: up, a counter, and histogram_quantile over a kernel histogram', async (t) => {
  if (!existsSync(PROMETHEUS)) {
    if (process.env['CI']) assert.fail('Debian prometheus is missing: scripts/setup.sh --test installs it');
    t.skip('prometheus not installed');
    return;
  }
  // A process whose write(2) calls the histogram counts: 100 of 1000 bytes and 50 of 3 bytes, on cue, then exits.
  // (Python, not Node: a Node process writes to an eventfd as it exits.)
  const writer = spawn(
    PYTHON,
    [
      '-c',
      'import os,sys\nsys.stdin.readline()\nfd=os.open("/dev/null",os.O_WRONLY)\n' +
        'for _ in range(100): os.write(fd,bytes(1000))\nfor _ in range(50): os.write(fd,bytes(3))\n',
    ],
    { stdio: ['pipe', 'ignore', 'inherit'] },
  );
  const dir = mkdtempSync(join(tmpdir(), 'prom-e2e-'));
  const pipeline = join(dir, 'pipeline.yaml');
  writeFileSync(
    pipeline,
    `receivers:
  ebpf/timers:
    program: timers
  ebpf/write_sizes:
    program: ${join(repoRoot, 'build', 'bpf', 'write_sizes.bpf.o')}
    metrics_file: ${join(repoRoot, 'test', 'bpf', 'write_sizes.yaml')}
    globals: { targ_tgid: ${writer.pid} }
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
service:
  pipelines:
    metrics:
      receivers: [ebpf/timers, ebpf/write_sizes]
      exporters: [prometheus]
`,
  );
  const agent = await startAgent([pipeline]);
  const prom = await startPrometheus(
    dir,
    `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: ebpf\n    static_configs:\n      - targets: ['127.0.0.1:${agent.port}']\n`,
  );
  const promPort = prom.port;
  try {
    const up = await until('up == 1', async () => {
      const r = await query(promPort, 'up{job="ebpf"}');
      return r[0]?.value[1] === '1' ? r : undefined;
    });
    assert.equal(up.length, 1);

    writer.stdin?.write('go\n');
    await new Promise<void>((resolve) => writer.once('exit', () => resolve()));

    const count = await until('the histogram count to reach 150', async () => {
      const r = await query(promPort, 'ebpf_exporter_write_size_bytes_count');
      return r[0]?.value[1] === '150' ? r : undefined;
    });
    assert.equal(count.length, 1);
    const sum = await query(promPort, 'ebpf_exporter_write_size_bytes_sum');
    assert.equal(sum[0]?.value[1], String(100 * 1000 + 50 * 3));
    // 150 observations: 50 in (2,4], 100 in (512,1024]. The median (rank 75) interpolates to 512 + 0.25 × 512.
    const median = await query(promPort, 'histogram_quantile(0.5, ebpf_exporter_write_size_bytes_bucket)');
    assert.equal(Number(median[0]?.value[1]), 640);
    const p10 = await query(promPort, 'histogram_quantile(0.1, ebpf_exporter_write_size_bytes_bucket)');
    assert.equal(Number(p10[0]?.value[1]), 2 + (15 / 50) * 2);

    const timers = await query(promPort, 'sum(ebpf_exporter_timer_starts_total)');
    assert.ok(Number(timers[0]?.value[1]) > 0, 'timer counters reach Prometheus');
  } catch (err) {
    throw new Error(
      `${String(err)}\nprometheus log:\n${prom.log()}\nagent log:\n${agent.logs.slice(-20).join('\n')}`,
      { cause: err },
    );
  } finally {
    const promStopped = prom.stop();
    writer.kill();
    assert.equal(await agent.stop(), 0);
    await promStopped;
    rmSync(dir, { recursive: true, force: true });
  }
});
