import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTools, HOST_RUN_FLAGS, podmanRun } from '../../deploy/image/podman.ts';
import { httpGet, repoRoot, samples } from '../helpers/agent.ts';
import { waitForRelease } from '../helpers/bpf-programs.ts';

/**
 * deploy/seccomp/ebpf-collector.json under a real container runtime (podman + runc):
 * the checkout's agent (its node binary, addon and objects, bind-mounted on an overlay
 * of this machine's root filesystem) runs under the profile with exactly the derived
 * capabilities and no_new_privs (allowPrivilegeEscalation: false); a profile without
 * bpf makes it say that seccomp is the likely cause.
 */
const PROFILE = join(repoRoot, 'deploy', 'seccomp', 'ebpf-collector.json');
const NODE = process.execPath;
const TIMERS = 'pipelines/timers.yaml';

interface Profile {
  defaultAction: string;
  syscalls: { names: string[]; action: string }[];
}
const profile = JSON.parse(readFileSync(PROFILE, 'utf8')) as Profile;

const unavailable = ensureTools();

/** podman run flags for the agent as the DaemonSet runs it (timers needs no host PIDs), ending with the root filesystem. */
function runFlags(seccomp: string, port: number): string[] {
  return [
    ...HOST_RUN_FLAGS,
    '--network=host',
    '--security-opt=no-new-privileges',
    `--security-opt=seccomp=${seccomp}`,
    '--cap-drop=ALL',
    '--cap-add=BPF,PERFMON,SYSLOG',
    '-v=/sys/kernel/btf:/sys/kernel/btf:ro',
    '-v=/sys/kernel/tracing:/sys/kernel/tracing',
    '-v=/sys/fs/cgroup:/sys/fs/cgroup:ro',
    `-e=EBPF_COLLECTOR_LISTEN=127.0.0.1:${port}`,
    `-w=${repoRoot}`,
    // This machine's root, copy-on-write (":O"), as the container's: the checkout, its Node and libbpf are in it.
    '--rootfs',
    '/:O',
  ];
}

function freePort(): number {
  return 20000 + (process.pid % 20000);
}

test('the profile: refuses by default, allows a sorted, unique list that holds what the agent needs', () => {
  assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(profile.syscalls.length, 1);
  const names = profile.syscalls[0]?.names ?? [];
  assert.equal(profile.syscalls[0]?.action, 'SCMP_ACT_ALLOW');
  assert.deepEqual(names, [...new Set(names)].sort());
  for (const n of [
    'bpf',
    'perf_event_open',
    'capset',
    'rt_tgsigqueueinfo',
    'inotify_add_watch',
    'epoll_pwait',
  ])
    assert.ok(names.includes(n), n);
  for (const n of ['mount', 'ptrace', 'kexec_load', 'init_module', 'unshare', 'setns'])
    assert.ok(!names.includes(n), `${n} is not used by the agent`);
});

test(
  'under the profile in podman + runc: the agent attaches, drops to SYSLOG, serves live counters and stops with exit 0, every program released',
  { skip: unavailable },
  async () => {
    const name = `caps-seccomp-${process.pid}`;
    const port = freePort();
    const started = podmanRun([
      'run',
      '-d',
      `--name=${name}`,
      ...runFlags(PROFILE, port),
      NODE,
      'bin/ebpf-collector.js',
      'run',
      '--config',
      TIMERS,
    ]);
    assert.equal(started.status, 0, started.stderr);
    try {
      let logs = '';
      for (let i = 0; i < 300 && !logs.includes('"msg":"agent started"'); i++) {
        await new Promise((r) => setTimeout(r, 100));
        logs = podmanRun(['logs', name]).stderr + podmanRun(['logs', name]).stdout;
      }
      assert.match(logs, /"msg":"agent started"/, logs);
      assert.match(logs, /"kept":\["SYSLOG"\]/);
      const pid = Number(podmanRun(['inspect', '-f', '{{.State.Pid}}', name]).stdout.trim());
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      assert.match(status, /^Seccomp:\s+2$/m, 'the agent runs under a seccomp filter');
      assert.match(status, /^NoNewPrivs:\s+1$/m);
      assert.match(status, /^NSpid:\s+\d+\s+1$/m, 'the agent is PID 1 of the container');
      const first = await httpGet(port, '/metrics');
      const ids = samples(first.body, 'ebpf_exporter_ebpf_program_info').map((s) => Number(s.labels['id']));
      assert.ok(ids.length > 0, first.body.slice(0, 1000));
      const total = (body: string): number =>
        samples(body, 'ebpf_exporter_timer_starts_total').reduce((n, s) => n + s.value, 0);
      let grew = false;
      for (let i = 0; i < 50 && !grew; i++) {
        await new Promise((r) => setTimeout(r, 100));
        grew = total((await httpGet(port, '/metrics')).body) > total(first.body);
      }
      assert.ok(grew, 'counters grow under the profile');
      assert.equal(podmanRun(['stop', '-t', '20', name]).status, 0);
      assert.equal(podmanRun(['inspect', '-f', '{{.State.ExitCode}}', name]).stdout.trim(), '0');
      await waitForRelease(ids); // every program released after podman stop
    } finally {
      podmanRun(['rm', '-f', '-t', '5', name]);
    }
  },
);

test(
  'EPERM from bpf() while holding CAP_BPF names seccomp as the likely cause and the fix',
  { skip: unavailable },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'seccomp-nobpf-'));
    try {
      const denying = join(dir, 'no-bpf.json');
      const p = structuredClone(profile);
      for (const s of p.syscalls) s.names = s.names.filter((n) => n !== 'bpf');
      writeFileSync(denying, JSON.stringify(p));
      const r = podmanRun([
        'run',
        '--rm',
        ...runFlags(denying, freePort() + 1),
        NODE,
        'bin/ebpf-collector.js',
        'validate',
        '--load',
        '--config',
        TIMERS,
      ]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(
        r.stderr,
        /load \S+timers\.bpf\.o: EPERM \(operation not permitted\): refused although the process holds CAP_BPF: its seccomp filter \(1 installed\) or an LSM likely denies bpf\(\) \[ERR_BPF_LOAD\]/,
      );
      assert.match(
        r.stderr,
        /fix: allow bpf and perf_event_open in the seccomp profile .*deploy\/seccomp\/ebpf-collector\.json/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'the shipped profile covers every call a fresh trace of the shipped pipelines makes (scripts/seccomp-profile.ts --check)',
  {
    skip:
      spawnSync('sh', ['-c', 'command -v strace']).status === 0
        ? false
        : 'strace is not installed (scripts/setup.sh --test installs it)',
  },
  () => {
    const r = spawnSync(NODE, [join(repoRoot, 'scripts', 'seccomp-profile.ts'), '--check'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 110_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr.slice(-3000)}`);
    assert.match(r.stdout, /profile covers every traced call/);
  },
);
