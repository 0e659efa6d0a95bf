/**
 * One kernel-matrix guest (scripts/kernels/run.ts): prepares Debian's kernels (prepare.sh), for
 * arm64 the guest's arm64 build, writes the guest's job script and boots the kernel under qemu
 * (TCG) with this machine's root shared read-only; every qemu is ended by its PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from '../../test/helpers/agent.ts';
import { buildArm64 } from '../arm64/build.ts';
import { ADDON, BPF_DIR, INIT, NODE, RUNTIME_DIR } from '../arm64/layout.ts';
import { judge, parseOutput, programsOf, type KernelRun } from './verdict.ts';

export interface KernelInfo {
  readonly release: string;
  readonly dir: string;
}

export const say = (s: string): void => void process.stderr.write(`[kernels] ${s}\n`);

export type Arch = 'amd64' | 'arm64';

/** The arm64 guest's userland trees (prepare.sh --userland), set by prepare(). */
let userlandDir: string | undefined;

export function prepare(all: boolean, arch: Arch): KernelInfo[] {
  const r = spawnSync(
    'bash',
    [
      join(repoRoot, 'scripts', 'kernels', 'prepare.sh'),
      ...(all ? ['--all'] : []),
      ...(arch === 'arm64' ? ['--arch', 'arm64', '--userland'] : []),
    ],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`scripts/kernels/prepare.sh failed (exit ${r.status ?? r.signal})`);
  const kernels: KernelInfo[] = [];
  for (const l of r.stdout.split('\n').filter(Boolean)) {
    const [rel, dir] = l.split(' ') as [string, string];
    if (rel === 'userland') userlandDir = dir;
    else kernels.push({ release: rel, dir });
  }
  return kernels;
}

/**
 * The arm64 build the guest runs (paths: scripts/arm64/layout.ts): `npm run build:arm64` (Node,
 * addon, init, Debian runtime libraries) and `make -C bpf ARCH=arm64`, both idempotent.
 */
export function buildArm64Guest(): void {
  const t0 = Date.now();
  buildArm64((line) => say(`arm64 build: ${line}`));
  const r = spawnSync('make', ['-s', '-C', join(repoRoot, 'bpf'), 'ARCH=arm64'], {
    cwd: repoRoot,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`make -C bpf ARCH=arm64 failed (exit ${r.status ?? r.signal})`);
  for (const p of [NODE, ADDON, INIT, RUNTIME_DIR, BPF_DIR])
    if (!existsSync(p)) throw new Error(`${relative(repoRoot, p)} is missing after the arm64 build`);
  say(`arm64 build ready (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}

/**
 * In an arm64 guest, the checkout's x86_64 binaries are covered by their arm64 builds
 * (bind mounts inside the guest only: the share stays read-only), so every path the
 * agent and the tests use — node_modules/.bin/node, the addon, build/bpf — is arm64's.
 */
function arm64Binds(): string[] {
  const binds: [string, string][] = [
    [BPF_DIR, 'build/bpf'],
    [ADDON, 'native/build/Release/ebpf_native.node'],
    [INIT, 'native/build/Release/ebpf-collector-init'],
    [NODE, '"$(readlink -f node_modules/.bin/node)"'],
  ];
  return binds.map(
    ([from, to]) => `mount --bind ${from} ${to} || { echo "arm64: cannot put ${from} over ${to}"; exit 1; }`,
  );
}

function jobScript(
  tests: readonly string[],
  testTimeoutMs: number,
  fileTimeoutMs: number,
  exec: string | undefined,
  arch: Arch,
): string {
  const binds = arch === 'arm64' ? arm64Binds() : [];
  if (exec !== undefined)
    return [...binds, 'export PATH="$PWD/node_modules/.bin:$PATH"', exec, ''].join('\n');
  // Under TCG, V8 has aborted in WebAssembly tier-up while Node's type stripper (a WASM
  // module) ran: a core showed Runtime_WasmTriggerTierUp → a stack walk →
  // ThreadIsolation::StartOfJitAllocationAt → V8_Fatal (SIGTRAP), even with
  // --no-wasm-tier-up (dynamic tiering still calls it). Without dynamic tiering and without
  // PKU-protected code memory (`-cpu max` offers PKU) 8 of 8 cold load reports passed where
  // 1 in 3 had crashed. Test files inherit the flags (node --test passes execArgv on).
  const node =
    'node_modules/.bin/node --no-wasm-tier-up --no-wasm-dynamic-tiering --no-memory-protection-keys';
  const lines = [
    ...binds,
    'export PATH="$PWD/node_modules/.bin:$PATH"',
    // Every test file is a new Node process compiling the same modules: under TCG that is
    // most of a test's time, so keep V8's code cache on the guest's scratch disk.
    'export NODE_COMPILE_CACHE=/tmp/.node-compile-cache',
    // Under TCG the agent takes longer than the agent helper's 30 s to start (test/helpers/agent.ts).
    'export EBPF_COLLECTOR_TEST_START_TIMEOUT_MS=240000',
    'rc=0',
    'echo "KMX_TIME start $(cut -d" " -f1 /proc/uptime)"',
    // Node itself has crashed under TCG now and then (SIGSEGV, SIGTRAP from a V8 check). A
    // step — the load report, or one test file — whose Node process was killed by one of
    // those signals (its exit status, or `signal: 'SIGSEGV'` as node --test reports a test
    // process) is run again, at most twice more (both the first run and its one retry of a
    // test file have crashed in one CI-like run); each crash is reported as KMX_NOTE with a
    // backtrace from its core when gdb is there. Only the output of the run that counts is
    // printed. Test failures are never retried.
    'crashed() { case "$1" in 133|134|135|139) return 0 ;; esac; return 1; }',
    `died() { grep -qE "^ +signal: '(SIGSEGV|SIGTRAP|SIGABRT|SIGBUS)'" "$1"; }`,
    'ulimit -c unlimited 2>/dev/null; echo /tmp/core.%p > /proc/sys/kernel/core_pattern',
    'backtrace() { for c in /tmp/core.*; do [ -f "$c" ] || continue; command -v gdb >/dev/null && ' +
      'gdb -q -batch -ex bt "$(readlink -f node_modules/.bin/node)" "$c" 2>/dev/null | grep "^#" | uniq | head -12 | sed "s/^/KMX_NOTE   /"; rm -f "$c"; done; }',
    'step() { label=$1; shift; n=0; while :; do "$@" > /tmp/kmx-step.out 2>&1; s=$?; ' +
      '{ crashed $s || died /tmp/kmx-step.out; } && [ $n -lt 2 ] || break; n=$((n + 1)); ' +
      `echo "KMX_NOTE $label: a node process died by a signal under TCG (exit $s$(grep -oE "signal: '[A-Z]+'" /tmp/kmx-step.out | head -1 | sed "s/^/, /")); run again"; ` +
      'backtrace; done; cat /tmp/kmx-step.out; return $s; }',
    `step load-report ${node} scripts/kernels/load-report.ts; s=$?`,
    '[ $s -ne 0 ] && rc=1',
    'echo "KMX_TIME load-report $(cut -d" " -f1 /proc/uptime)"',
  ];
  // One node --test per file, each bounded: a file whose process never exits (a child
  // left running) costs its own bound, not the whole run's.
  for (const file of tests) {
    lines.push(
      `step ${file} timeout -k 10 ${Math.ceil(fileTimeoutMs / 1000)} ${node} --test --test-concurrency=1 --test-timeout=${testTimeoutMs} --test-reporter=tap ${file}; s=$?`,
      `if [ $s -ne 0 ]; then rc=1; [ $s -ge 124 ] && echo "not ok 0 - ${file}: killed after ${Math.ceil(fileTimeoutMs / 1000)} s (exit $s)"; fi`,
      `echo "KMX_TIME ${file} $(cut -d" " -f1 /proc/uptime)"`,
    );
  }
  lines.push('exit $rc', '');
  return lines.join('\n');
}

let running: ChildProcess | undefined;
let runDir: string | undefined;
/** Ctrl-C or a kill: end the running qemu by its PID and remove its run folder. */
export function cleanUpOnSignals(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (running?.pid) process.kill(running.pid, 'SIGKILL');
      if (runDir) rmSync(runDir, { recursive: true, force: true });
      process.exit(130);
    });
  }
}

/** What one guest boot runs, and its bounds. */
export interface GuestJob {
  readonly tests: readonly string[];
  /** Bound of the whole boot, seconds. */
  readonly timeoutS: number;
  /** Bound of one test file, seconds. */
  readonly fileTimeoutS: number;
  /** Keep the run folder in /tmp. */
  readonly keep: boolean;
  /** Run only this shell command in the guest (debugging). */
  readonly exec: string | undefined;
  readonly arch: Arch;
}

async function bootKernel(
  k: KernelInfo,
  { tests, timeoutS, fileTimeoutS, keep, exec, arch }: GuestJob,
): Promise<{ text: string; console: string; seconds: number; timedOut: boolean; qemuStatus: string }> {
  const dir = mkdtempSync('/tmp/kmx-');
  runDir = keep ? undefined : dir;
  const job = join(dir, 'job.sh');
  writeFileSync(job, jobScript(tests, 300_000, fileTimeoutS * 1000, exec, arch));
  const out = join(dir, 'out.txt');
  const consoleLog = join(dir, 'console.txt');
  // The guest's /var/tmp: a real block device (biolatency, cachestat on ext4), written
  // only inside this image, which goes with the run folder.
  const disk = join(dir, 'disk.img');
  writeFileSync(disk, '');
  truncateSync(disk, 2 * 1024 ** 3); // sparse: room for a core dump of a crashed Node
  const mkfs = spawnSync('mkfs.ext4', ['-q', '-F', disk], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  if (mkfs.status !== 0) throw new Error(`mkfs.ext4 ${disk} failed: ${mkfs.stderr || mkfs.error?.message}`);
  const rootflags = 'trans=virtio,version=9p2000.L,msize=512000,cache=loose';
  // amd64: the host's / is the guest's root. arm64: the root is an overlay of the arm64
  // userland and runtime trees (from the same read-only share; writes go to guest memory),
  // the share is at /host, and the checkout is bound from there (guest-init.sh).
  const host = arch === 'arm64' ? '/host' : '';
  const append = [
    arch === 'arm64' ? 'console=ttyAMA0' : 'console=ttyS0',
    'root=/dev/root',
    'rootfstype=9p',
    // cache=loose: the guest keeps pages of the (read-only) host files; Node starts 3-10x faster.
    `rootflags=${rootflags}`,
    'ro',
    `init=${host}${join(repoRoot, 'scripts', 'kernels', 'guest-init.sh')}`,
    'panic=-1',
    `kmx_job=${host}${job}`,
    `kmx_cwd=${repoRoot}`,
    ...(arch === 'arm64'
      ? [`kmx_lower=${userlandDir ?? ''}:${RUNTIME_DIR}`, `kmx_host=${host}`, 'kmx_out=virtio']
      : []),
  ].join(' ');
  const common = [
    ...['-m', '2G', '-smp', '2'],
    ...['-display', 'none', '-no-reboot', '-nodefaults', '-no-user-config'],
    ...['-drive', `file=${disk},if=virtio,format=raw,cache=unsafe`],
    // The host's root, read-only as qemu enforces it (a guest remount rw still cannot write).
    '-virtfs',
    'local,id=root9p,path=/,mount_tag=/dev/root,security_model=none,readonly=on,multidevs=remap',
  ];
  const [qemu, args] =
    arch === 'arm64'
      ? [
          'qemu-system-aarch64',
          [
            // pauth-impdef: QEMU's own pointer-authentication hash, far cheaper under TCG than QARMA.
            ...['-M', 'virt', '-accel', 'tcg', '-cpu', 'max,pauth-impdef=on'],
            ...['-kernel', join(k.dir, 'Image'), '-initrd', join(k.dir, 'initrd.gz'), '-append', append],
            // -M virt has one UART (the console): results leave on a virtio serial port.
            ...['-serial', `file:${consoleLog}`, '-device', 'virtio-serial-pci'],
            ...[
              '-chardev',
              `file,id=kmxout,path=${out}`,
              '-device',
              'virtserialport,chardev=kmxout,name=kmx',
            ],
            ...common,
          ],
        ]
      : [
          'qemu-system-x86_64',
          [
            ...['-accel', 'tcg', '-cpu', 'max'],
            ...['-kernel', join(k.dir, 'vmlinux'), '-initrd', join(k.dir, 'initrd.gz'), '-append', append],
            ...['-serial', `file:${consoleLog}`, '-serial', `file:${out}`],
            ...common,
          ],
        ];
  const t0 = Date.now();
  const child = spawn(qemu, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running = child;
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid) process.kill(child.pid, 'SIGKILL');
  }, timeoutS * 1000);
  const status = await new Promise<string>((resolve) => {
    child.on('error', (e) => resolve(`spawn failed: ${e.message}`));
    child.on('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit ${code}`));
  });
  clearTimeout(timer);
  running = undefined;
  const read = (p: string): string => (existsSync(p) ? readFileSync(p, 'utf8') : '');
  const result = {
    text: read(out),
    console: read(consoleLog) + stderr,
    seconds: (Date.now() - t0) / 1000,
    timedOut,
    qemuStatus: status,
  };
  if (keep) say(`run folder kept: ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  runDir = undefined;
  return result;
}

export async function runGuest(k: KernelInfo, job: GuestJob): Promise<KernelRun> {
  const { tests, timeoutS, exec } = job;
  say(`booting ${k.release} under qemu (TCG): load/attach of every program, ${tests.length} test file(s)`);
  const r = await bootKernel(k, job);
  if (exec !== undefined) process.stdout.write(r.text);
  const parsed = parseOutput(r.text);
  const kernelLine = parsed.json.find((o) => o['type'] === 'kernel');
  const base = {
    kernel: k.release,
    where: 'qemu' as const,
    hooks: (kernelLine?.['hooks'] as string[] | undefined) ?? [],
    info: parsed.info,
    programs: programsOf(parsed.json),
    tests: parsed.tests,
    exitCode: parsed.exitCode,
    seconds: r.seconds,
    phases: parsed.phases,
    notes: parsed.notes,
    config: readFileSync(join(k.dir, 'config'), 'utf8'),
  };
  const problems = judge(base, true);
  if (r.timedOut) problems.unshift(`timed out after ${timeoutS} s (qemu killed)`);
  if (!parsed.ready) problems.unshift(`the guest never became ready (qemu ${r.qemuStatus})`);
  if (problems.length > 0) {
    process.stderr.write(`--- ${k.release}: guest output (last 150 lines) ---\n`);
    process.stderr.write(`${r.text.split('\n').slice(-150).join('\n')}\n`);
    process.stderr.write(`--- ${k.release}: console (last 40 lines) ---\n`);
    process.stderr.write(`${r.console.split('\n').slice(-40).join('\n')}\n`);
  }
  return { ...base, problems };
}
