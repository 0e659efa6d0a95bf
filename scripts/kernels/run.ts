/**
 * The kernel matrix: boots Debian's own kernels under qemu (TCG, no /dev/kvm
 * needed) with this machine's root shared read-only, runs the load/attach report
 * of every shipped program and the real-kernel event tests inside, and the same
 * report on the host kernel. Results come back as JSON lines and TAP on the
 * guest's second serial port; "KMX_EXIT=<rc>" ends a run, and a run without it
 * (panic, hang, timeout) fails.
 *
 *   npm run test:kernels                 every Debian kernel apt offers, all program and
 *                                        receiver kernel tests, writes docs/compatibility.md
 *   npm run test:kernels -- --quick      CI form: one kernel, load/attach of every program,
 *                                        a handful of event tests, no docs written
 * Options: --tests <file,...> (replace the guest's test files), --timeout <s> per boot,
 *          --file-timeout <s> per test file (default 300 quick, 600 full), --kernel <release,...>,
 *          --no-host, --docs <path> / --no-docs, --keep (keep the run folders in /tmp),
 *          --exec '<shell command>' (run only that in each guest, print its output: for debugging).
 *
 * Fails when: a guest run has no exit marker or a non-zero exit, a test fails, a
 * program does not run at all, or — in a guest, whose kernel has kprobes and fentry —
 * a program does not choose its preferred (first declared) hook set.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { machine, release } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../../test/helpers/agent.ts';
import { buildArm64 } from '../arm64/build.ts';
import { ADDON, BPF_DIR, INIT, NODE, RUNTIME_DIR } from '../arm64/layout.ts';
import type { ProgramReport } from './load-report.ts';

interface KernelInfo {
  readonly release: string;
  readonly dir: string;
}

interface TestResult {
  readonly name: string;
  readonly ok: boolean;
  readonly skipped: boolean;
}

export interface KernelRun {
  readonly kernel: string;
  /** 'host' or 'qemu'. */
  readonly where: 'host' | 'qemu';
  readonly hooks: readonly string[];
  readonly info: string;
  readonly programs: readonly ProgramReport[];
  readonly tests: readonly TestResult[];
  readonly exitCode: number | undefined;
  readonly seconds: number;
  /** Guest time per phase (boot, load report, each test file). */
  readonly phases: readonly string[];
  /** KMX_NOTE lines: what the guest job noticed and worked around (a Node crash rerun, its backtrace). */
  readonly notes: readonly string[];
  /** The guest kernel's config (boot/config-*): what it was built without excuses a fallback. */
  readonly config?: string;
  readonly problems: readonly string[];
}

/** Event tests of the CI form: cheap under TCG and covering both hook kinds. */
const QUICK_TESTS = ['test/programs/timers.kernel.test.ts', 'test/programs/cgroup.kernel.test.ts'];

function fullTests(): string[] {
  const programTests = readdirSync(join(repoRoot, 'test', 'programs'))
    .filter((f) => f.endsWith('.kernel.test.ts'))
    .sort()
    .map((f) => `test/programs/${f}`);
  return programTests;
}

const say = (s: string): void => void process.stderr.write(`[kernels] ${s}\n`);

export type Arch = 'amd64' | 'arm64';

/** The arm64 guest's userland trees (prepare.sh --userland), set by prepare(). */
let userlandDir: string | undefined;

function prepare(all: boolean, arch: Arch): KernelInfo[] {
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
function buildArm64Guest(): void {
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

/** The structured lines of a run: KMX_JSON objects, KMX_INFO, KMX_NOTE, TAP results, KMX_EXIT. */
export function parseOutput(text: string): {
  json: Record<string, unknown>[];
  info: string;
  tests: TestResult[];
  exitCode: number | undefined;
  ready: boolean;
  phases: string[];
  notes: string[];
} {
  const json: Record<string, unknown>[] = [];
  const notes: string[] = [];
  const tests: TestResult[] = [];
  let info = '';
  let exitCode: number | undefined;
  let ready = false;
  const times: [string, number][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line === 'KMX_READY') ready = true;
    else if (line.startsWith('KMX_JSON ')) {
      try {
        json.push(JSON.parse(line.slice('KMX_JSON '.length)) as Record<string, unknown>);
      } catch {
        /* a line cut by a crash: the missing program shows in the report */
      }
    } else if (line.startsWith('KMX_INFO ')) info = line.slice('KMX_INFO '.length);
    else if (line.startsWith('KMX_NOTE ')) notes.push(line.slice('KMX_NOTE '.length));
    else if (line.startsWith('KMX_TIME ')) {
      const [label, uptime] = line.slice('KMX_TIME '.length).split(' ');
      if (label && uptime) times.push([label, Number(uptime)]);
    } else if (/^KMX_EXIT=\d+$/.test(line)) exitCode = Number(line.slice('KMX_EXIT='.length));
    else {
      // Top-level TAP results only (subtests are indented).
      const m = /^(not ok|ok) \d+ - (.*?)(?: # (SKIP|TODO)\b.*)?$/.exec(line);
      if (m) tests.push({ name: m[2] as string, ok: m[1] === 'ok', skipped: m[3] !== undefined });
    }
  }
  // Guest seconds per phase: boot (to the job's start), then each step since the previous.
  const phases = times.map(
    ([label, t], i) =>
      `${i === 0 ? 'boot' : label} ${(t - (i === 0 ? 0 : (times[i - 1]?.[1] ?? 0))).toFixed(0)} s`,
  );
  return { json, info, tests, exitCode, ready, phases, notes };
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
function cleanUpOnSignals(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (running?.pid) process.kill(running.pid, 'SIGKILL');
      if (runDir) rmSync(runDir, { recursive: true, force: true });
      process.exit(130);
    });
  }
}

/** What one guest boot runs, and its bounds. */
interface GuestJob {
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

/**
 * What a kernel was built without, and the failure that shows it: a hook set failing
 * exactly so is the kernel's limit, not ours, and its fallback is what that kernel allows.
 * Read from the kernel's own config, never assumed per architecture.
 */
export function configLimits(config: string): { sets: RegExp; reason: RegExp; why: string }[] {
  const limits: { sets: RegExp; reason: RegExp; why: string }[] = [];
  if (!/^CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS=y$/m.test(config))
    limits.push({
      sets: /^(fentry|fexit|lsm)$/,
      reason: /ENOTSUPP/,
      why: 'the kernel has no CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS (BPF trampolines cannot attach to kernel functions)',
    });
  if (!/^CONFIG_KALLSYMS_ALL=y$/m.test(config))
    limits.push({
      sets: /./,
      reason: /ERR_EBPF_KADDR/,
      why: 'the kernel has no CONFIG_KALLSYMS_ALL (data symbols are not in /proc/kallsyms)',
    });
  return limits;
}

/**
 * In a guest, every program must choose its first declared hook set — unless each set
 * before the chosen one failed the way the kernel's config says it must (configLimits).
 */
export function judge(run: Omit<KernelRun, 'problems'>, expectPreferred: boolean): string[] {
  const problems: string[] = [];
  const limits = configLimits(run.config ?? '');
  if (run.exitCode === undefined) problems.push('no KMX_EXIT marker: the run did not finish');
  else if (run.exitCode !== 0) problems.push(`exit status ${run.exitCode}`);
  for (const p of run.programs) {
    const why =
      p.error ??
      p.reasons
        .map((r) => `${r.hook}: ${r.reason}${r.log?.length ? ` | ${r.log.join(' | ')}` : ''}`)
        .join('; ');
    if (p.unavailable !== undefined) continue; // e.g. no hardware PMU: nothing to run on
    if (p.hook === 'none') problems.push(`${p.program}: no hook set ran (${why})`);
    else if (p.attached < p.programs)
      problems.push(
        `${p.program}: ${p.programs - p.attached} of ${p.programs} programs not attached (${why})`,
      );
    const skipped = p.sets.slice(0, Math.max(0, p.sets.indexOf(p.hook)));
    const excused =
      run.config !== undefined &&
      p.sets.includes(p.hook) &&
      skipped.every((set) => {
        const failed = p.reasons.filter((r) => r.hook === set);
        return (
          failed.length > 0 &&
          failed.every((r) => limits.some((l) => l.sets.test(set) && l.reason.test(r.reason)))
        );
      });
    if (expectPreferred && p.sets.length > 0 && p.hook !== p.sets[0] && !excused)
      problems.push(`${p.program}: chose ${p.hook}, not its preferred ${p.sets[0]} (${why})`);
  }
  for (const t of run.tests) if (!t.ok) problems.push(`test failed: ${t.name}`);
  return problems;
}

function programsOf(json: Record<string, unknown>[]): ProgramReport[] {
  return json
    .filter((o) => o['type'] === 'program')
    .map((o) => ({ sets: [], attached: 0, programs: 0, reasons: [], events: 0, metrics: {}, ms: 0, ...o }))
    .map((o) => o as unknown as ProgramReport);
}

async function runGuest(k: KernelInfo, job: GuestJob): Promise<KernelRun> {
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

function runHost(): KernelRun {
  say(`host ${release()}: load/attach of every program`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'kernels', 'load-report.ts')], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const parsed = parseOutput(r.stdout);
  const kernelLine = parsed.json.find((o) => o['type'] === 'kernel');
  const base = {
    kernel: release(),
    where: 'host' as const,
    hooks: (kernelLine?.['hooks'] as string[] | undefined) ?? [],
    info: '',
    programs: programsOf(parsed.json),
    tests: [],
    exitCode: r.status ?? undefined,
    seconds: (Date.now() - t0) / 1000,
    phases: [],
    notes: [],
  };
  return { ...base, problems: judge(base, false) };
}

function cell(p: ProgramReport | undefined): string {
  if (!p) return '–';
  if (p.unavailable !== undefined) return `not available (${p.unavailable})`;
  if (p.hook === 'none') return `**fails**${p.error ? ` (${p.error})` : ''}`;
  return `${p.hook} (${p.attached}/${p.programs}), ${p.events} events`;
}

export function markdown(runs: readonly KernelRun[]): string {
  const programs = [...new Set(runs.flatMap((r) => r.programs.map((p) => p.program)))].sort();
  const head = runs.map(
    (r) => `${r.kernel} (${r.where === 'host' ? `${machine()} development host` : 'Debian, qemu'})`,
  );
  const lines = [
    '# Kernel compatibility',
    '',
    'Generated by `npm run test:kernels` (scripts/kernels/run.ts): every shipped program loaded through the',
    'real ebpf receiver on each kernel, with the hook set it chose, programs attached / programs in the set,',
    'and the events its metrics counted during a short generic workload (loopback TCP, file writes, a python',
    'child; 0 means the workload does not trigger it, e.g. no memory reclaim). Debian kernels boot under',
    "qemu (TCG) with this machine's root shared read-only (arm64 kernels: `--arch arm64`, with an arm64",
    'userland over the same share); objects are the same CO-RE build for every kernel of an architecture',
    '(`build/bpf`, `build/bpf-arm64`).',
    '',
    `| program | ${head.join(' | ')} |`,
    `|---|${runs.map(() => '---').join('|')}|`,
    ...programs.map(
      (name) =>
        `| ${name} | ${runs.map((r) => cell(r.programs.find((p) => p.program === name))).join(' | ')} |`,
    ),
    '',
    '## Hook kinds per kernel',
    '',
    ...runs.map((r) => `- ${r.kernel}: ${r.hooks.join(', ') || 'unknown'}${r.info ? ` (${r.info})` : ''}`),
    '',
    '## Why a preferred hook set was not used',
    '',
  ];
  const reasons = runs.flatMap((r) => {
    const limits = r.config === undefined ? [] : configLimits(r.config);
    return r.programs.flatMap((p) =>
      p.reasons.map((x) => {
        const limit = limits.find((l) => l.sets.test(x.hook) && l.reason.test(x.reason));
        return `- ${r.kernel}, ${p.program}, ${x.hook}: ${x.reason.replaceAll(`${repoRoot}/`, '')}${limit ? ` — ${limit.why}` : ''}`;
      }),
    );
  });
  lines.push(...(reasons.length > 0 ? reasons : ['- none']), '', '## Event tests run inside the guests', '');
  for (const r of runs.filter((x) => x.where === 'qemu')) {
    const pass = r.tests.filter((t) => t.ok && !t.skipped).length;
    const skip = r.tests.filter((t) => t.skipped).length;
    lines.push(
      `- ${r.kernel}: ${pass} passed, ${r.tests.length - pass - skip} failed, ${skip} skipped${r.phases.length > 0 ? ` (guest time under TCG: ${r.phases.join(', ')})` : ''}`,
    );
    for (const t of r.tests.filter((x) => !x.ok)) lines.push(`  - failed: ${t.name}`);
  }
  lines.push('');
  return lines.join('\n');
}

async function main(): Promise<void> {
  cleanUpOnSignals();
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      tests: { type: 'string' },
      timeout: { type: 'string' },
      'file-timeout': { type: 'string' },
      kernel: { type: 'string' },
      'no-host': { type: 'boolean', default: false },
      docs: { type: 'string' },
      'no-docs': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      exec: { type: 'string' },
      arch: { type: 'string', default: 'amd64' },
    },
  });
  const quick = values.quick;
  const arches = values.arch.split(',').filter(Boolean);
  for (const a of arches)
    if (a !== 'amd64' && a !== 'arm64')
      throw new Error(`--arch ${a}: amd64 or arm64 (or both, comma-separated)`);
  const tests =
    values.tests !== undefined ? values.tests.split(',').filter(Boolean) : quick ? QUICK_TESTS : fullTests();
  const fileTimeoutS = Number(values['file-timeout'] ?? (quick ? 300 : 600));
  // Boot, the load report and every test file at its bound: a hang is cut, never waited out.
  const timeoutS = Number(values.timeout ?? 300 + tests.length * fileTimeoutS);
  if (!existsSync('/sys/kernel/btf/vmlinux'))
    throw new Error('the host kernel has no BTF: the BPF objects cannot be built');
  const wanted = values.kernel?.split(',').filter(Boolean);
  const runs: KernelRun[] = [];
  for (const arch of arches as Arch[]) {
    if (arch === 'arm64') buildArm64Guest();
    const kernels = prepare(!quick, arch).filter((k) => !wanted || wanted.includes(k.release));
    if (kernels.length === 0) throw new Error(`no ${arch} kernel prepared`);
    for (const k of quick ? kernels.slice(0, 1) : kernels)
      runs.push(
        await runGuest(k, { tests, timeoutS, fileTimeoutS, keep: values.keep, exec: values.exec, arch }),
      );
  }
  if (values.exec !== undefined) {
    process.exitCode = runs.every((r) => r.exitCode === 0) ? 0 : 1;
    return;
  }
  if (!values['no-host']) runs.push(runHost());

  process.stdout.write(`${markdown(runs)}\n`);
  for (const r of runs) {
    const pass = r.tests.filter((t) => t.ok).length;
    say(
      `${r.kernel} (${r.where}): ${r.programs.length} programs, ${pass}/${r.tests.length} tests passed, ${r.seconds.toFixed(1)} s${r.problems.length ? `, ${r.problems.length} problem(s)` : ''}`,
    );
    if (r.phases.length > 0) say(`  ${r.kernel}: guest time: ${r.phases.join(', ')}`);
    for (const n of r.notes) say(`  ${r.kernel}: note: ${n}`);
    for (const p of r.problems) say(`  ${r.kernel}: ${p}`);
  }
  const failed = runs.some((r) => r.problems.length > 0);
  const docs =
    values.docs ?? (quick || values['no-docs'] ? undefined : join(repoRoot, 'docs', 'compatibility.md'));
  if (docs) {
    mkdirSync(join(docs, '..'), { recursive: true });
    writeFileSync(docs, markdown(runs));
    say(`wrote ${relative(repoRoot, docs)}${failed ? ' (from a failing run)' : ''}`);
  }
  process.exitCode = failed ? 1 : 0;
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    say((err as Error).message);
    process.exitCode = 1;
  }
}
