/**
 * The kernel matrix's verdict (scripts/kernels/run.ts): a guest's serial output parsed into
 * programs, tests and phases, and the problems that fail a run.
 */
import type { ProgramReport } from './load-report.ts';

export interface TestResult {
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
 * Kernel functions (kfuncs) a program's preferred hook set calls, and the release that added
 * them: no config says whether a kernel has one, so a set that the verifier refuses on an older
 * kernel is that kernel's limit (the fallback set calls none). bpf/raw-tracepoints.bpf.c.
 */
const KFUNC_SETS: readonly {
  program: string;
  set: string;
  since: readonly [number, number];
  kfunc: string;
}[] = [{ program: 'raw-tracepoints', set: 'raw_tp', since: [6, 2], kfunc: 'bpf_rdonly_cast' }];

/** Whether `set` of `program` calls a kfunc newer than the kernel `release`. */
export function lacksKfunc(release: string, program: string, set: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return KFUNC_SETS.some(
    (k) =>
      k.program === program &&
      k.set === set &&
      (major < k.since[0] || (major === k.since[0] && minor < k.since[1])),
  );
}

/**
 * In a guest, every program must choose its first declared hook set — unless each set
 * before the chosen one failed the way the kernel's config says it must (configLimits), or the
 * verifier refused a set calling a kfunc the kernel is too old for (KFUNC_SETS).
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
          failed.every(
            (r) =>
              limits.some((l) => l.sets.test(set) && l.reason.test(r.reason)) ||
              (lacksKfunc(run.kernel, p.program, set) && /ERR_BPF_VERIFIER/.test(r.reason)),
          )
        );
      });
    if (expectPreferred && p.sets.length > 0 && p.hook !== p.sets[0] && !excused)
      problems.push(`${p.program}: chose ${p.hook}, not its preferred ${p.sets[0]} (${why})`);
  }
  for (const t of run.tests) if (!t.ok) problems.push(`test failed: ${t.name}`);
  return problems;
}

export function programsOf(json: Record<string, unknown>[]): ProgramReport[] {
  return json
    .filter((o) => o['type'] === 'program')
    .map((o) => ({ sets: [], attached: 0, programs: 0, reasons: [], events: 0, metrics: {}, ms: 0, ...o }))
    .map((o) => o as unknown as ProgramReport);
}
