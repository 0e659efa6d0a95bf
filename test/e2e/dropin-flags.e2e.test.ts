/**
 * ebpf_exporter's command line beyond the basics (dropin.e2e.test.ts): what a check
 * reports, errors named by the flag that caused them, --log.no-timestamps,
 * --config.skip-cache-size, --web.listen-address=fd://N and --debug's /maps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet, repoRoot, runCli, samples, startAgentWith } from '../helpers/agent.ts';

/** A directory laid out as ebpf_exporter expects, with these test objects. */
function exporterDir(names: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'dropin-flags-'));
  for (const name of names) {
    copyFileSync(join(repoRoot, 'build', 'bpf', `${name}.bpf.o`), join(dir, `${name}.bpf.o`));
    copyFileSync(join(repoRoot, 'test', 'bpf', `${name}.yaml`), join(dir, `${name}.yaml`));
  }
  return dir;
}

/** pino's JSON lines on stderr. */
function logLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('--config.check without strict says which programs attached and which did not, with the reason', () => {
  const dir = exporterDir(['loose_attach', 'write_sizes']);
  const r = runCli([`--config.dir=${dir}`, '--config.names=loose_attach,write_sizes', '--config.check']);
  assert.equal(r.status, 0, r.stderr);
  const passed = logLines(r.stderr).find((l) => String(l['msg']).startsWith('config check passed'));
  assert.ok(passed, r.stderr);
  assert.equal(
    passed['msg'],
    'config check passed: 2 of 3 programs attached; not attached: ' +
      'loose_attach:count_nothing (tracepoint/syscalls/sys_enter_ec_no_such_call): ENOENT (no such file or directory)',
  );
  assert.deepEqual(passed['attached'], ['loose_attach:count_getppid', 'write_sizes:count_write']);
  // With every program attached it says so, and how many.
  const all = runCli([`--config.dir=${dir}`, '--config.names=write_sizes', '--config.check']);
  assert.equal(all.status, 0, all.stderr);
  assert.ok(
    logLines(all.stderr).some(
      (l) => l['msg'] === 'config check passed: every program loaded and attached (1)',
    ),
    all.stderr,
  );
  // --config.strict turns the miss into a failure naming config:program.
  const strict = runCli([
    `--config.dir=${dir}`,
    '--config.names=loose_attach',
    '--config.check',
    '--config.strict',
  ]);
  assert.equal(strict.status, 1, strict.stderr);
  assert.match(strict.stderr, /loose_attach:count_nothing: ENOENT/);
});

test('validate --load lists the programs that did not attach', () => {
  const dir = exporterDir(['loose_attach']);
  const pipeline = join(dir, 'pipeline.yaml');
  writeFileSync(
    pipeline,
    [
      'receivers:',
      '  ebpf/loose:',
      `    program: ${join(dir, 'loose_attach.bpf.o')}`,
      `    metrics_file: ${join(dir, 'loose_attach.yaml')}`,
      'exporters:',
      '  prometheus:',
      '    endpoint: 127.0.0.1:0',
      'service:',
      '  pipelines:',
      '    metrics:',
      '      receivers: [ebpf/loose]',
      '      exporters: [prometheus]',
      '',
    ].join('\n'),
  );
  const r = runCli(['validate', '--load', '--config', pipeline]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    r.stdout,
    `${pipeline}: valid, 1 of 2 programs attached; not attached:\n` +
      '  loose_attach:count_nothing (tracepoint/syscalls/sys_enter_ec_no_such_call): ENOENT (no such file or directory)\n',
  );
});

test('every drop-in flag names itself in its error (no made-up position in a generated file)', () => {
  const dir = exporterDir(['write_sizes']);
  const base = [`--config.dir=${dir}`, '--config.names=write_sizes'];
  const cases: [string[], string][] = [
    [
      [...base, '--web.listen-address=foo:bar'],
      '--web.listen-address: expected an address like "0.0.0.0:9435", got "foo:bar": the port must be a number from 0 to 65535, got "bar" [ERR_CONFIG_VALUE]',
    ],
    [
      [...base, '--web.listen-address=fd://x'],
      '--web.listen-address: expected fd://N with N a socket index (0 is the first), got "fd://x" [ERR_CONFIG_VALUE]',
    ],
    [
      [...base, '--web.telemetry-path=metrics'],
      '--web.telemetry-path: expected a path like "/metrics" (starting with /, no spaces), got "metrics" [ERR_CONFIG_VALUE]',
    ],
    [
      [...base, '--config.skip-cache-size=-1'],
      '--config.skip-cache-size: expected a whole number of entries (0: off), got "-1" [ERR_CONFIG_VALUE]',
    ],
    [
      [...base, '--btf.path=/nonexistent/vmlinux'],
      '--btf.path: /nonexistent/vmlinux does not exist [ERR_CONFIG_READ]',
    ],
    [
      ['--config.dir=/nonexistent', '--config.names=x'],
      '--config.dir: /nonexistent is not a directory [ERR_CONFIG_READ]',
    ],
    [
      [`--config.dir=${dir}`, '--config.names=nope'],
      `--config.dir: config "nope": ${dir}/nope.yaml and ${dir}/nope.bpf.o do not exist [ERR_CONFIG_READ]`,
    ],
    [
      [`--config.dir=${dir}`, '--config.names=,'],
      '--config.names: give at least one config name [ERR_CONFIG_VALUE]',
    ],
    [
      [`--config.dir=${dir}`, '--config.names=write_sizes,write_sizes'],
      '--config.names: config "write_sizes" is given twice [ERR_CONFIG_VALUE]',
    ],
    [
      [`--config.dir=${dir}`, '--config.names=a/b'],
      '--config.names: config "a/b": a name is a file name in --config.dir, without "/" [ERR_CONFIG_VALUE]',
    ],
  ];
  for (const [args, line] of cases) {
    const r = runCli(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, `${line}\n`, args.join(' '));
  }
  // A name with a space: the files exist, the component id cannot hold it.
  copyFileSync(join(dir, 'write_sizes.yaml'), join(dir, 'a b.yaml'));
  copyFileSync(join(dir, 'write_sizes.bpf.o'), join(dir, 'a b.bpf.o'));
  const spaced = runCli([`--config.dir=${dir}`, '--config.names=a b']);
  assert.equal(spaced.status, 2, spaced.stderr);
  assert.equal(
    spaced.stderr,
    '--config.names: config "a b": invalid component id "ebpf/a b": the name "a b" must not contain spaces or control characters [ERR_CONFIG_COMPONENT_ID]\n',
  );
  assert.doesNotMatch(spaced.stderr, /<ebpf_exporter flags>/);
  // A problem inside a config's own file keeps that file's position.
  writeFileSync(join(dir, 'write_sizes.yaml'), 'metrics:\n  counters:\n    - name: x\n      hlep: y\n');
  const inFile = runCli(base);
  assert.equal(inFile.status, 2, inFile.stderr);
  assert.match(inFile.stderr, new RegExp(`^${dir}/write_sizes\\.yaml:4:7: .*hlep: unknown key`, 'm'));
});

/** An agent on an ephemeral loopback port from these drop-in flags. */
async function dropIn(dir: string, names: string, extra: string[] = []) {
  return startAgentWith([
    `--config.dir=${dir}`,
    `--config.names=${names}`,
    '--web.listen-address=127.0.0.1:0',
    ...extra,
  ]);
}

test('--log.no-timestamps: log lines have no time field; without it they do', async () => {
  const dir = exporterDir(['write_sizes']);
  const plain = await dropIn(dir, 'write_sizes', ['--log.no-timestamps']);
  try {
    const lines = plain.logs
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.some((l) => l['msg'] === 'agent started'));
    assert.ok(
      lines.every((l) => !('time' in l)),
      plain.logs.join('\n'),
    );
  } finally {
    assert.equal(await plain.stop(), 0);
  }
  const stamped = await dropIn(dir, 'write_sizes');
  try {
    const started = stamped.logs.find((l) => l.includes('"agent started"'));
    assert.equal(typeof (JSON.parse(started ?? '{}') as { time?: unknown }).time, 'number');
  } finally {
    assert.equal(await stamped.stop(), 0);
  }
});

/** A listening loopback socket and its fd (to hand to a child as systemd does). */
async function listeningSocket(): Promise<{ server: Server; fd: number; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  const port = (server.address() as { port: number }).port;
  return { server, fd, port };
}

test('--web.listen-address=fd://0 serves on the socket systemd passed as fd 3 (LISTEN_PID, LISTEN_FDS)', async () => {
  const dir = exporterDir(['write_sizes']);
  const { server, fd, port } = await listeningSocket();
  // As systemd does: the socket at fd 3, LISTEN_FDS=1 and LISTEN_PID = the pid that execs the agent.
  const agent = await startAgentWith(
    [`--config.dir=${dir}`, '--config.names=write_sizes', '--web.listen-address=fd://0'],
    { LISTEN_FDS: '1' },
    30_000,
    ['sh', '-c', 'LISTEN_PID=$$ exec "$0" "$@"'],
    [fd],
  );
  // The agent has its own copy: this process stops listening so every connection is the agent's.
  await new Promise<void>((resolve) => server.close(() => resolve()));
  try {
    assert.equal(agent.port, port, "the start line names the passed socket's port");
    const { status, body } = await httpGet(port, '/metrics');
    assert.equal(status, 200);
    assert.equal(samples(body, 'ebpf_exporter_write_size_bytes_count').length, 1, body);
  } finally {
    assert.equal(await agent.stop(), 0);
  }
  // Sockets meant for another process (LISTEN_PID is not ours) are refused, naming the flag.
  const other = runCli([`--config.dir=${dir}`, '--config.names=write_sizes', '--web.listen-address=fd://0'], {
    LISTEN_FDS: '1',
    LISTEN_PID: '1',
  });
  assert.equal(other.status, 2, other.stderr);
  assert.match(
    other.stderr,
    /^--web\.listen-address: fd:\/\/0: no sockets were passed by socket activation \(LISTEN_PID=1, LISTEN_FDS=1; this process is \d+\) \[ERR_CONFIG_VALUE\]\n$/,
  );
  // fd://1 when one socket was passed.
  const beyond = spawnSync(
    'sh',
    [
      '-c',
      'LISTEN_PID=$$ exec "$0" "$@"',
      process.execPath,
      join(repoRoot, 'bin', 'ebpf-collector.js'),
      `--config.dir=${dir}`,
      '--config.names=write_sizes',
      '--web.listen-address=fd://1',
    ],
    { encoding: 'utf8', env: { ...process.env, LISTEN_FDS: '1' }, timeout: 60_000 },
  );
  assert.equal(beyond.status, 2, beyond.stderr);
  assert.equal(
    beyond.stderr,
    '--web.listen-address: fd://1: socket activation passed 1 socket (fd://0) [ERR_CONFIG_VALUE]\n',
  );
});

test('--debug serves /maps: per config and map, raw key bytes, decoded labels and value, bounded per map', async () => {
  const dir = exporterDir(['maps_dump', 'write_sizes']);
  const agent = await dropIn(dir, 'maps_dump,write_sizes', ['--debug']);
  try {
    const { status, headers, body } = await httpGet(agent.port, '/maps');
    assert.equal(status, 200);
    assert.match(String(headers['content-type']), /^text\/plain/);
    assert.match(
      body,
      /^## Config: maps_dump\n\n### Map: slot_calls_total \(metric slot_calls_total\)\n\n```\n/,
    );
    assert.match(body, /\n## Config: write_sizes\n\n### Map: write_size_bytes \(metric write_size_bytes\)\n/);
    const section = (metric: string): string[] => {
      const start = body.indexOf(`(metric ${metric})\n\n\`\`\`\n`);
      assert.ok(start >= 0, body.slice(0, 500));
      const rows = body.slice(body.indexOf('```\n', start) + 4);
      return rows.slice(0, rows.indexOf('```')).trimEnd().split('\n');
    };
    // 1500 array slots: the first 1000 are shown, then how many were left out.
    const slots = section('slot_calls_total');
    assert.equal(slots.length, 1001);
    assert.equal(slots[1000], '… 500 more entries not shown');
    assert.match(slots[0] ?? '', /^00 00 00 00 \(labels: \[slot="0"\]\) -> \d+$/);
    assert.match(slots[7] ?? '', /^07 00 00 00 \(labels: \[slot="7"\]\) -> \d+$/);
    // The same map through a regexp that keeps slot 7 only.
    const seven = section('slot_seven_calls_total');
    assert.match(seven[7] ?? '', /^07 00 00 00 \(labels: \[slot="7"\]\) -> \d+$/);
    assert.equal(
      seven[8],
      '08 00 00 00 (labels: dropped by a decoder) -> ' + (slots[8] ?? '').split(' -> ')[1],
    );
    // A histogram's keys with their bucket label; every row has a value.
    const sizes = section('write_size_bytes');
    assert.ok(sizes.length > 0 && sizes.length <= 22, sizes.join('\n'));
    for (const row of sizes)
      assert.match(row, /^([0-9a-f]{2} ){7}[0-9a-f]{2} \(labels: \[bucket="\d+"\]\) -> \d+$/);
    // The metrics path is unchanged.
    assert.equal((await httpGet(agent.port, '/metrics')).status, 200);
  } finally {
    assert.equal(await agent.stop(), 0);
  }
  // Only while --debug is given.
  const plain = await dropIn(dir, 'maps_dump');
  try {
    assert.equal((await httpGet(plain.port, '/maps')).status, 404);
  } finally {
    assert.equal(await plain.stop(), 0);
  }
});
