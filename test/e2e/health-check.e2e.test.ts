/**
 * The collector's health_check extension in the running agent (bin/ebpf-collector.js run):
 * `extensions: {health_check: …}` + `service.extensions: [health_check]` serves the
 * collector's status JSON on its own port — 200 "Server available" once every program is
 * attached; a required program that cannot run on this kernel (llcstat without a hardware
 * PMU) makes it 503 naming the program, while `optional: true` keeps it 200.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent, type RunningAgent } from '../helpers/agent.ts';
import { supportedHooks } from '../helpers/kernel-features.ts';

function config(llcstat: 'none' | 'required' | 'optional'): string {
  const extra =
    llcstat === 'none'
      ? ''
      : `  ebpf/llcstat:\n    program: llcstat\n${llcstat === 'optional' ? '    optional: true\n' : ''}`;
  return `receivers:
  ebpf/timers:
    program: timers
${extra}processors:
  ksym: {}
exporters:
  prometheus:
    endpoint: \${env:EBPF_COLLECTOR_LISTEN}
extensions:
  health_check:
    endpoint: 127.0.0.1:0
    path: /health/status
service:
  extensions: [health_check]
  pipelines:
    metrics:
      receivers: [ebpf/timers${llcstat === 'none' ? '' : ', ebpf/llcstat'}]
      processors: [ksym]
      exporters: [prometheus]
`;
}

/** The health_check URL from the start line. */
function healthUrl(agent: RunningAgent): URL {
  const line = agent.logs.find((l) => l.includes('"agent started"')) ?? '';
  const start = JSON.parse(line) as { extensions?: { id: string; health_check?: string }[] };
  const url = start.extensions?.find((e) => e.id === 'health_check')?.health_check;
  assert.ok(url, `the start line names the health_check URL: ${line}`);
  return new URL(url);
}

function fetch(url: URL): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

async function withAgent(yaml: string, f: (agent: RunningAgent) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'health-check-'));
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, yaml);
  const agent = await startAgent([file]);
  try {
    await f(agent);
  } finally {
    assert.equal(await agent.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('health_check: 200 "Server available" when every program is attached; other paths 404', async () => {
  await withAgent(config('none'), async (agent) => {
    const url = healthUrl(agent);
    assert.equal(url.pathname, '/health/status');
    const res = await fetch(url);
    assert.equal(res.status, 200, res.body);
    const body = JSON.parse(res.body) as Record<string, unknown>;
    assert.equal(body['status'], 'Server available');
    assert.match(String(body['upSince']), /^\d{4}-/);
    assert.equal((await fetch(new URL('/', url))).status, 404);
  });
});

test('health_check: a required program that cannot run is 503 naming it; optional: true stays 200', async (t) => {
  if (supportedHooks().has('perf_event_hw')) {
    t.skip('this machine has a hardware PMU: llcstat runs');
    return;
  }
  await withAgent(config('required'), async (agent) => {
    const res = await fetch(healthUrl(agent));
    assert.equal(res.status, 503, res.body);
    const body = JSON.parse(res.body) as { status: string; components: { id: string; problems: string[] }[] };
    assert.equal(body.status, 'Server not available');
    assert.deepEqual(
      body.components.map((c) => c.id),
      ['ebpf/llcstat'],
    );
    assert.match(body.components[0]?.problems[0] ?? '', /no hardware PMU/);
  });
  await withAgent(config('optional'), async (agent) => {
    const res = await fetch(healthUrl(agent));
    assert.equal(res.status, 200, res.body);
  });
});
