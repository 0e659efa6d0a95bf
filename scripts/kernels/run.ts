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
 *          --exec '<shell command>' (run only that in each guest, print its output: for debugging),
 *          --arch amd64|arm64|amd64,arm64 (the guests' architecture; default amd64).
 * Parts: guest.ts (kernels, the arm64 build, the guest's job, one qemu boot), verdict.ts (the
 * guest's output parsed and judged), compatibility.ts (docs/compatibility.md).
 *
 * Fails when: a guest run has no exit marker or a non-zero exit, a test fails, a
 * program does not run at all, or — in a guest, whose kernel has kprobes and fentry —
 * a program does not choose its preferred (first declared) hook set.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../../test/helpers/agent.ts';
import { markdown } from './compatibility.ts';
import { buildArm64Guest, cleanUpOnSignals, prepare, runGuest, say, type Arch } from './guest.ts';
import { judge, parseOutput, programsOf, type KernelRun } from './verdict.ts';

/** Event tests of the CI form: cheap under TCG and covering both hook kinds. */
const QUICK_TESTS = ['test/programs/timers.kernel.test.ts', 'test/programs/cgroup.kernel.test.ts'];

function fullTests(): string[] {
  const programTests = readdirSync(join(repoRoot, 'test', 'programs'))
    .filter((f) => f.endsWith('.kernel.test.ts'))
    .sort()
    .map((f) => `test/programs/${f}`);
  return programTests;
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
