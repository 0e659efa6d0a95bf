import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kallsyms } from '../../src/kernel/kallsyms.ts';
import { httpGet, repoRoot, samples, startAgent } from '../helpers/agent.ts';
import { isOneOf, programIdsHeldBy, programNames, waitForRelease } from '../helpers/bpf-programs.ts';
import { assertPromtoolAccepts } from '../helpers/promtool.ts';

const OUR_PROGRAMS = ['tp_btf__timer_start', 'tracepoint__timer_start'];
const METRIC = 'ebpf_exporter_timer_starts_total';

test('timers pipeline: live ksym-decoded counters that grow; SIGTERM detaches everything and exits 0', async () => {
  const agent = await startAgent([join(repoRoot, 'pipelines', 'timers.yaml')]);
  let held: number[];
  try {
    const health = await httpGet(agent.port, '/healthz');
    assert.equal(health.status, 200);
    const ready = await httpGet(agent.port, '/readyz');
    assert.deepEqual([ready.status, ready.body], [200, 'ready\n']);
    // A healthy start is quiet: no warn or error line.
    assert.deepEqual(
      agent.logs.filter((l) => /"level":"(warn|error|fatal)"/.test(l)),
      [],
    );

    const first = await httpGet(agent.port, '/metrics');
    assert.equal(first.status, 200);
    assert.match(String(first.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(first.body, new RegExp(`^# TYPE ${METRIC} counter$`, 'm'));
    const a = samples(first.body, METRIC);
    assert.ok(a.length > 0, `no ${METRIC} series:\n${first.body}`);

    // Every function label is an exact symbol of the live kernel.
    const ksyms = new Kallsyms();
    const known = a.filter(
      (s) => s.labels['function'] !== undefined && ksyms.addressOf(s.labels['function']) !== undefined,
    );
    assert.ok(
      known.length > 0,
      `no function label resolves in /proc/kallsyms: ${JSON.stringify(a.slice(0, 5))}`,
    );

    // Make the kernel start timers of its own (TCP delayed-ack and keepalive timers on loopback), then scrape again.
    await new Promise((r) => setTimeout(r, 1500));
    const second = await httpGet(agent.port, '/metrics', { 'accept-encoding': 'gzip' });
    assert.equal(second.headers['content-encoding'], 'gzip');
    const b = samples(second.body, METRIC);
    const total = (xs: { value: number }[]): number => xs.reduce((n, s) => n + s.value, 0);
    assert.ok(total(b) > total(a), `counters did not grow: ${total(a)} → ${total(b)}`);
    const before = new Map(a.map((s) => [s.labels['function'], s.value]));
    assert.ok(
      b.some(
        (s) =>
          (before.get(s.labels['function']) ?? 0) < s.value &&
          ksyms.addressOf(s.labels['function'] as string) !== undefined,
      ),
      'no known function grew',
    );
    assert.ok(
      b.every((s) => (before.get(s.labels['function']) ?? 0) <= s.value),
      'a counter went backwards',
    );

    // Self-metrics: process metrics under their standard names (no namespace), scrapes by code.
    const rss = samples(second.body, 'process_resident_memory_bytes');
    assert.ok((rss[0]?.value ?? 0) > 1e6, `process_resident_memory_bytes: ${JSON.stringify(rss)}`);
    for (const name of [
      'process_cpu_seconds_total',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_seconds',
    ])
      assert.equal(samples(second.body, name).length, 1, name);
    assert.doesNotMatch(second.body, /^ebpf_exporter_process_/m);
    assert.ok(
      samples(second.body, 'ebpf_collector_prometheus_scrapes_total').some(
        (s) => s.labels['code'] === '200' && s.value >= 1,
      ),
      'the first scrape is counted',
    );
    assert.ok(samples(second.body, 'ebpf_collector_receiver_data_points').some((s) => s.value > 0));

    // The output is valid exposition for real Prometheus.
    assertPromtoolAccepts(second.body);

    // The agent itself holds our program (others on this machine may run the same one).
    held = programIdsHeldBy(agent.child.pid as number);
    const names = programNames(held);
    assert.ok(
      names.some((n) => isOneOf(n, OUR_PROGRAMS)),
      `the agent holds none of our programs: ${names.join(',')}`,
    );
  } finally {
    const code = await agent.stop('SIGTERM');
    assert.equal(code, 0, `exit ${code}:\n${agent.logs.join('\n')}`);
  }
  await waitForRelease(held); // programs of the agent's remain after SIGTERM: a leak
  assert.ok(
    agent.logs.some((l) => l.includes('"hook":"tp_btf"') || l.includes('"hook":"tracepoint"')),
    'start line names the hook chosen',
  );
});

test('a bad pipeline YAML fails with file:line:col and exit code 2', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'badcfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.yaml');
  writeFileSync(
    file,
    [
      'receivers:',
      '  ebpf/timers:',
      '    program: timers',
      '    poll_intervall: 5s',
      'exporters:',
      '  prometheus:',
      '    max_requests: lots',
      'service:',
      '  pipelines:',
      '    metrics:',
      '      receivers: [ebpf/timers]',
      '      exporters: [prometheus]',
      '',
    ].join('\n'),
  );
  const r = spawnSync(
    process.execPath,
    [join(repoRoot, 'bin', 'ebpf-collector.js'), 'run', '--config', file],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 2, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(
      `${escape(file)}:4:5: receivers\\.ebpf/timers\\.poll_intervall: unknown key.*did you mean "poll_interval"\\?.*\\[ERR_CONFIG_UNKNOWN_KEY\\]`,
    ),
  );
  assert.match(
    r.stderr,
    new RegExp(
      `${escape(file)}:7:19: exporters\\.prometheus\\.max_requests: expected .*number.*\\[ERR_CONFIG_TYPE\\]`,
    ),
  );
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
