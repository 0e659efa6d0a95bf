import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maskOf } from '../../src/native/caps.ts';
import { httpGet, repoRoot, runCli, samples, startAgentWith } from '../helpers/agent.ts';
import { waitForRelease } from '../helpers/bpf-programs.ts';

/**
 * Least privilege with the real agent: it runs with exactly the capabilities
 * `caps` derives (setpriv execs it with that bounding set, as a container
 * runtime's --cap-drop=ALL --cap-add=… does), drops what it no longer needs on
 * every thread after attach, and still serves and shuts down; with one
 * capability less it names it and the program that needs it.
 */
const TIMERS = join(repoRoot, 'pipelines', 'timers.yaml');
const METRIC = 'ebpf_exporter_timer_starts_total';

function derived(config: string): { capabilities: string[]; afterAttach: string[] } {
  const r = runCli(['caps', '--config', config, '--output', 'json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { capabilities: string[]; afterAttach: string[] };
}

/** setpriv: a process with exactly these capabilities (bounding set; root gets permitted = effective = bounding). */
function withOnly(caps: readonly string[]): string[] {
  const list = caps.map((c) => `,+${c.toLowerCase()}`).join('');
  return ['setpriv', '--bounding-set', `-all${list}`, '--inh-caps', '-all', '--'];
}

/** Every thread's capability sets, read from outside the process. */
function threadSets(pid: number): { name: string; eff: bigint; prm: bigint; inh: bigint; amb: bigint }[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    let s: string;
    try {
      s = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      return []; // the thread ended
    }
    const f = (k: string): string => new RegExp(`^${k}:\\s*(\\S+)`, 'm').exec(s)?.[1] ?? '';
    const hex = (k: string): bigint => BigInt(`0x${f(k)}`);
    return [
      {
        name: `${tid} ${f('Name')}`,
        eff: hex('CapEff'),
        prm: hex('CapPrm'),
        inh: hex('CapInh'),
        amb: hex('CapAmb'),
      },
    ];
  });
}

test('timers with exactly the derived capabilities: attaches, drops to SYSLOG on every thread, serves live counters, releases everything on SIGTERM', async () => {
  const plan = derived(TIMERS);
  assert.deepEqual(plan.capabilities, ['BPF', 'PERFMON', 'SYSLOG']);
  assert.deepEqual(plan.afterAttach, ['SYSLOG']);
  const agent = await startAgentWith(['run', '--config', TIMERS], {}, 30_000, withOnly(plan.capabilities));
  try {
    const pid = agent.child.pid as number;
    const dropLine = agent.logs.find((l) => l.includes('capabilities dropped on every thread'));
    assert.ok(dropLine, `no drop logged:\n${agent.logs.join('\n')}`);
    const logged = JSON.parse(dropLine) as { started: string[]; kept: string[]; threads: number };
    assert.deepEqual(logged.started, ['SYSLOG', 'PERFMON', 'BPF']);
    assert.deepEqual(logged.kept, ['SYSLOG']);

    const first = await httpGet(agent.port, '/metrics');
    const keep = maskOf(['SYSLOG']);
    const threads = threadSets(pid);
    assert.ok(threads.length >= 7, `threads: ${threads.map((t) => t.name).join(', ')}`);
    for (const t of threads) {
      assert.deepEqual([t.eff, t.prm, t.inh, t.amb], [keep, keep, 0n, 0n], `thread ${t.name}`);
    }

    const a = samples(first.body, METRIC);
    assert.ok(a.length > 0, `no ${METRIC} after the drop:\n${first.body.slice(0, 2000)}`);
    const ids = samples(first.body, 'ebpf_exporter_ebpf_program_info').map((s) => Number(s.labels['id']));
    assert.ok(ids.length > 0, 'program ids are listed after the drop');
    const total = (xs: { value: number }[]): number => xs.reduce((n, s) => n + s.value, 0);
    let grew = false;
    for (let i = 0; i < 50 && !grew; i++) {
      await new Promise((r) => setTimeout(r, 100));
      grew = total(samples((await httpGet(agent.port, '/metrics')).body, METRIC)) > total(a);
    }
    assert.ok(grew, 'counters grow after the drop');

    assert.equal(await agent.stop('SIGTERM'), 0);
    await waitForRelease(ids); // every program is released after the drop
  } finally {
    agent.child.kill('SIGKILL');
  }
});

test('one derived capability less: the agent names it and the programs that need it, exits 1', () => {
  for (const missing of ['PERFMON', 'SYSLOG']) {
    const caps = derived(TIMERS).capabilities.filter((c) => c !== missing);
    const r = runCli(['run', '--config', TIMERS], { EBPF_COLLECTOR_LISTEN: '127.0.0.1:0' }, withOnly(caps));
    assert.equal(r.status, 1, `${missing}: ${r.stderr}`);
    const head = r.stderr.split('\n')[0] ?? '';
    assert.match(head, new RegExp(`the process lacks CAP_${missing} \\(needed by ebpf/timers`));
    assert.match(head, /\[ERR_CAPS_MISSING\]$/);
  }
  const r = runCli(
    ['run', '--config', TIMERS],
    { EBPF_COLLECTOR_LISTEN: '127.0.0.1:0' },
    withOnly(['BPF', 'SYSLOG']),
  );
  assert.match(
    r.stderr,
    /CAP_PERFMON \(needed by ebpf\/timers: tp_btf\/timer_start, ebpf\/timers: tracepoint\/timer\/timer_start\)/,
  );
});

test('--capabilities.keep: a list keeps exactly it; a bad name is a usage error naming the flag (exit 2)', async () => {
  const agent = await startAgentWith(['run', '--config', TIMERS, '--capabilities.keep=cap_bpf,cap_syslog']);
  try {
    const keep = maskOf(['BPF', 'SYSLOG']);
    for (const t of threadSets(agent.child.pid as number))
      assert.deepEqual([t.eff, t.prm, t.inh, t.amb], [keep, keep, 0n, 0n], `thread ${t.name}`);
    assert.equal(await agent.stop('SIGTERM'), 0);
  } finally {
    agent.child.kill('SIGKILL');
  }
  const bad = runCli(['run', '--config', TIMERS, '--capabilities.keep=cap_syslog,cap_nope']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^--capabilities\.keep: unknown capability "cap_nope"; .*\[ERR_CONFIG_VALUE\]$/m);
});

test("ebpf_exporter's config-check line is accepted: --capabilities.keep=none --config.check --config.strict", () => {
  const dir = mkdtempSync(join(tmpdir(), 'caps-dropin-'));
  try {
    copyFileSync(join(repoRoot, 'build', 'bpf', 'timers.bpf.o'), join(dir, 'timers.bpf.o'));
    copyFileSync(join(repoRoot, 'bpf', 'timers.yaml'), join(dir, 'timers.yaml'));
    const r = runCli([
      `--config.dir=${dir}`,
      '--config.names=timers',
      '--capabilities.keep=none',
      '--config.check',
      '--config.strict',
    ]);
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
