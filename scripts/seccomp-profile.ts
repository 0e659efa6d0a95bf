/**
 * Generates deploy/seccomp/ebpf-collector.json: the system calls the agent really
 * makes, traced with strace (-f: every thread) while each shipped pipeline starts,
 * is scraped (plain and gzip, /healthz, /readyz), runs a few collections and is
 * stopped with SIGTERM, plus the short list EXTRA below (each with its reason).
 *
 *   node scripts/seccomp-profile.ts            # as root, after scripts/setup.sh; strace from Debian
 *   node scripts/seccomp-profile.ts --check    # exit 1 when the shipped profile lacks a traced call
 *
 * The profile allows the union and refuses everything else with EPERM (the OCI
 * default for SCMP_ACT_ERRNO). Traced on x86_64; arm64 names that differ are not
 * traced (see deploy/seccomp/README.md).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PROFILE = join(root, 'deploy', 'seccomp', 'ebpf-collector.json');
const PIPELINES = ['timers.yaml', 'default.yaml', 'kubernetes.yaml', 'execsnoop.yaml'];

/** Calls a trace of loopback endpoints does not show but the agent makes where it runs, with the reason. */
const EXTRA: Record<string, string> = {
  exit: 'a thread ends (strace -c does not always count calls that do not return)',
  exit_group: 'the process ends',
  rt_sigreturn: 'return from any signal handler (SIGTERM, the capability drop’s SIGSETXID)',
  restart_syscall: 'a sleeping call interrupted by a signal is restarted',
  epoll_wait: 'libuv waits with epoll_pwait or epoll_wait (both were seen in traces)',
  epoll_pwait: 'libuv waits with epoll_pwait or epoll_wait',
  sched_yield: 'V8 and glibc spin-waits under CPU contention (seen only in a trace on a loaded machine)',
  sendmmsg: 'glibc’s DNS resolver (OTLP and Kubernetes API hosts by name)',
  recvfrom: 'glibc’s DNS resolver',
  sendto: 'glibc’s DNS resolver',
  poll: 'glibc’s DNS resolver',
  connect: 'OTLP and Kubernetes API connections',
  getpeername: 'TLS and HTTP client connections',
  getsockopt: 'connection errors (SO_ERROR) on client sockets',
  shutdown: 'closing client and server sockets',
  // The container runtime's own calls between installing the filter and exec'ing the agent
  // (found by running runc 1.1 under the profile: each one missing stopped the container).
  fstatfs: 'runc: checks /proc/self/fd is procfs before closing inherited fds',
  statfs: 'runc: as fstatfs',
  close_range: 'runc: closes inherited fds',
  setgroups: 'runc: sets the user (without no_new_privs the filter is installed before this)',
  setresuid: 'runc: sets the user',
  setresgid: 'runc: sets the group',
  setuid: 'runc: sets the user',
  setgid: 'runc: sets the group',
  chdir: 'runc: enters the working directory',
};

interface Traced {
  readonly pipeline: string;
  readonly calls: ReadonlySet<string>;
}

function fetch(port: number, path: string, gzip = false): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = get(
      { host: '127.0.0.1', port, path, headers: gzip ? { 'accept-encoding': 'gzip' } : {} },
      (res) => {
        res.resume();
        res.on('end', () => resolve());
      },
    );
    req.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** strace -f -c around one agent run: start, scrapes, SIGTERM. */
async function trace(pipeline: string, dir: string): Promise<Traced> {
  const out = join(dir, `${pipeline}.strace`);
  const child = spawn(
    'strace',
    [
      '-f',
      '-qq',
      '-c',
      '-o',
      out,
      // Through the init, as the image runs it: its calls are in the profile too.
      join(root, 'native', 'build', 'Release', 'ebpf-collector-init'),
      process.execPath,
      join(root, 'bin', 'ebpf-collector.js'),
      'run',
      '--config',
      join(root, 'pipelines', pipeline),
    ],
    {
      cwd: root,
      env: {
        ...process.env,
        EBPF_COLLECTOR_LISTEN: '127.0.0.1:0',
        K8S_NODE_NAME: 'seccomp-trace',
        OTLP_ENDPOINT: 'http://localhost:4317',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    void exited.then((code) => reject(new Error(`${pipeline}: exited ${code} before starting`)));
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${pipeline}: no start in 120 s:\n${buf}`)), 120_000);
    child.stderr.on('data', (c: Buffer) => {
      buf += c.toString();
      const line = buf.split('\n').find((l) => l.includes('"msg":"agent started"'));
      const m = line === undefined ? null : /"metrics":"http:\/\/[^:]+:(\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  for (let i = 0; i < 3; i++) {
    await fetch(port, '/metrics');
    await fetch(port, '/metrics', true);
    await fetch(port, '/healthz');
    await fetch(port, '/readyz');
    spawnSync('/bin/true'); // an exec for execsnoop's ring buffer
    await sleep(1000);
  }
  // The init is strace's child: SIGTERM it as a container runtime would (it forwards it).
  const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/);
  for (const pid of children) process.kill(Number(pid), 'SIGTERM');
  const code = await exited;
  if (code !== 0) throw new Error(`${pipeline}: strace/agent exited ${code}`);
  return { pipeline, calls: parseSummary(readFileSync(out, 'utf8')) };
}

/** System call names from strace -c's table (last column), skipping the header and total lines. */
export function parseSummary(text: string): Set<string> {
  const calls = new Set<string>();
  for (const line of text.split('\n')) {
    const name = line.trim().split(/\s+/).pop() ?? '';
    if (/^[a-z_][a-z0-9_]*$/.test(name) && name !== 'total' && name !== 'syscall') calls.add(name);
  }
  return calls;
}

export function profile(calls: Iterable<string>): Record<string, unknown> {
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    archMap: [
      { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
      { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
    ],
    syscalls: [{ names: [...new Set(calls)].sort(), action: 'SCMP_ACT_ALLOW' }],
  };
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const dir = mkdtempSync(join(tmpdir(), 'seccomp-trace-'));
  try {
    const traced: Traced[] = [];
    for (const p of PIPELINES) {
      traced.push(await trace(p, dir));
      process.stderr.write(`${p}: ${traced.at(-1)?.calls.size} system calls\n`);
    }
    const all = new Set(traced.flatMap((t) => [...t.calls]));
    if (check) {
      const shipped = JSON.parse(readFileSync(PROFILE, 'utf8')) as { syscalls: { names: string[] }[] };
      const allowed = new Set(shipped.syscalls.flatMap((s) => s.names));
      const missing = [...all].filter((c) => !allowed.has(c)).sort();
      process.stdout.write(
        missing.length ? `missing: ${missing.join(' ')}\n` : 'profile covers every traced call\n',
      );
      process.exit(missing.length ? 1 : 0);
    }
    for (const c of Object.keys(EXTRA)) all.add(c);
    mkdirSync(dirname(PROFILE), { recursive: true });
    writeFileSync(PROFILE, `${JSON.stringify(profile(all), null, 2)}\n`);
    spawnSync(join(root, 'node_modules', '.bin', 'prettier'), ['--write', PROFILE]); // the repository's format
    process.stdout.write(`${PROFILE}: ${all.size} system calls allowed\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
