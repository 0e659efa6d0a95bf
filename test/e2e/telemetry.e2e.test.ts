import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet, repoRoot, samples, startAgent } from '../helpers/agent.ts';
import { assertPromtoolAccepts } from '../helpers/promtool.ts';

const TIMERS = join(repoRoot, 'pipelines', 'timers.yaml');

/** A loopback port free right now (bound, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function overlay(dir: string, yaml: string): string {
  const file = join(dir, 'telemetry.yaml');
  writeFileSync(file, yaml);
  return file;
}

test('service.telemetry.metrics.readers: self-metrics on their own endpoint at their level, not on the pipeline’s /metrics', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'telemetry-e2e-'));
  const selfPort = await freePort();
  const agent = await startAgent([
    TIMERS,
    overlay(
      dir,
      `service:
  telemetry:
    metrics:
      level: basic
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${selfPort}
`,
    ),
  ]);
  try {
    const data = await httpGet(agent.port, '/metrics');
    assert.equal(data.status, 200);
    assert.ok(samples(data.body, 'ebpf_exporter_timer_starts_total').length > 0, 'kernel data stays');
    assert.doesNotMatch(data.body, /^(ebpf_collector_|ebpf_exporter_enabled_configs|process_)/m);

    const self = await httpGet(selfPort, '/metrics');
    assert.equal(self.status, 200);
    const attached = samples(self.body, 'ebpf_collector_program_attached').filter((s) => s.value === 1);
    assert.ok(attached.length > 0, `program_attached on the self endpoint:\n${self.body}`);
    assert.equal(samples(self.body, 'ebpf_exporter_enabled_configs')[0]?.labels['name'], 'timers');
    assert.ok((samples(self.body, 'process_resident_memory_bytes')[0]?.value ?? 0) > 0, 'process memory');
    // basic: no fill, flow or per-program statistics.
    assert.doesNotMatch(
      self.body,
      /^\S*(map_entries|scrapes_total|ebpf_program_info|timer_starts_total)[{ ]/m,
    );
    assertPromtoolAccepts(self.body);
    // The status page is on the self-metrics endpoint too.
    const status = await httpGet(selfPort, '/status', { accept: 'application/json' });
    const programs = (JSON.parse(status.body) as { programs: { program: string; hook: string }[] }).programs;
    assert.ok(
      programs.some((p) => p.program === 'timers' && p.hook !== 'none'),
      status.body,
    );
    assert.ok(
      agent.logs.some((l) => l.includes('"msg":"serving self-metrics"') && l.includes(`:${selfPort}`)),
      'start logs where the self-metrics are',
    );
  } finally {
    assert.equal(await agent.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
  }
  // Closed with the agent.
  await assert.rejects(httpGet(selfPort, '/metrics'), /ECONNREFUSED/);
});

test('service.telemetry.metrics.level none: no self-metrics anywhere', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'telemetry-e2e-'));
  const agent = await startAgent([
    TIMERS,
    overlay(dir, 'service:\n  telemetry:\n    metrics:\n      level: none\n'),
  ]);
  try {
    const data = await httpGet(agent.port, '/metrics');
    assert.ok(samples(data.body, 'ebpf_exporter_timer_starts_total').length > 0);
    assert.doesNotMatch(
      data.body,
      /^(ebpf_collector_|ebpf_exporter_enabled_configs|ebpf_exporter_build_info|process_)/m,
    );
  } finally {
    assert.equal(await agent.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('service.telemetry.logs: console encoding with level names; warn hides info', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'telemetry-e2e-'));
  const run = (level: string) =>
    new Promise<string[]>((resolve, reject) => {
      const file = overlay(
        dir,
        `service:\n  telemetry:\n    logs:\n      level: ${level}\n      encoding: console\n`,
      );
      const child = spawn(
        process.execPath,
        [join(repoRoot, 'bin', 'ebpf-collector.js'), 'run', '--config', TIMERS, '--config', file],
        {
          cwd: repoRoot,
          env: { ...process.env, EBPF_COLLECTOR_LISTEN: '127.0.0.1:0' },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let err = '';
      const timer = setTimeout(() => child.kill('SIGTERM'), 8_000);
      child.stderr.on('data', (c: Buffer) => {
        err += c.toString();
        // Started (info) or, at warn, as long as a start takes: then stop.
        if (err.includes('\tagent started\t')) child.kill('SIGTERM');
      });
      child.on('error', reject);
      child.on('exit', (code) => {
        clearTimeout(timer);
        if (code !== 0) reject(new Error(`exit ${code}:\n${err}`));
        else resolve(err.split('\n').filter(Boolean));
      });
    });
  try {
    const info = await run('info');
    const started = info.find((l) => l.includes('\tagent started\t'));
    assert.ok(started, info.join('\n'));
    const [time, level, msg, fields] = started.split('\t');
    assert.match(time ?? '', /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    assert.equal(level, 'info');
    assert.equal(msg, 'agent started');
    assert.match(
      String((JSON.parse(fields ?? '{}') as { metrics?: string }).metrics),
      /^http:\/\/127\.0\.0\.1:\d+\/metrics$/,
    );
    for (const l of info)
      assert.match(l, /^\S+Z\t(debug|info|warn|error)\t/, 'every line in the console encoding');

    const warn = await run('warn');
    assert.ok(!warn.some((l) => /\tinfo\t/.test(l)), `no info lines at warn:\n${warn.join('\n')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
