import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markdown } from '../../scripts/kernels/compatibility.ts';
import { judge, parseOutput, type KernelRun } from '../../scripts/kernels/verdict.ts';
import type { ProgramReport } from '../../scripts/kernels/load-report.ts';

/**
 * The kernel matrix's verdict (scripts/kernels/run.ts) from a guest's serial output:
 * what counts as a pass must never be an absent result.
 */

function program(over: Partial<ProgramReport>): ProgramReport {
  return {
    type: 'program',
    kernel: '6.1.0-57-amd64',
    program: 'p',
    sets: ['kprobe', 'tracepoint'],
    hook: 'kprobe',
    attached: 2,
    programs: 2,
    reasons: [],
    events: 10,
    metrics: {},
    ms: 1,
    ...over,
  };
}

function run(text: string): Omit<KernelRun, 'problems'> {
  const p = parseOutput(text);
  return {
    kernel: '6.1.0-57-amd64',
    where: 'qemu',
    hooks: [],
    info: p.info,
    programs: p.json.filter((o) => o['type'] === 'program') as unknown as ProgramReport[],
    tests: p.tests,
    exitCode: p.exitCode,
    seconds: 1,
    phases: p.phases,
    notes: p.notes,
  };
}

const json = (o: object): string => `KMX_JSON ${JSON.stringify(o)}`;

test('a guest that printed results but no exit marker (panic, hang, kill) fails', () => {
  const text = ['KMX_READY', json(program({})), 'ok 1 - something'].join('\n');
  const problems = judge(run(text), true);
  assert.deepEqual(problems, ['no KMX_EXIT marker: the run did not finish']);
});

test('serial output with CRLF line ends: exit code, TAP results, skips and phases are read', () => {
  const text = [
    'KMX_READY',
    'KMX_INFO uname=6.1.0-57-amd64',
    'KMX_TIME start 5.5',
    json(program({})),
    'KMX_TIME load-report 65.5',
    'TAP version 13',
    'ok 1 - first',
    '    not ok 1 - a subtest is not a top-level result',
    'ok 2 - second # SKIP no disk',
    'not ok 3 - third',
    'KMX_NOTE t.ts: a node process died by a signal under TCG; run again',
    'KMX_EXIT=1',
  ].join('\r\n');
  const p = parseOutput(text);
  assert.equal(p.ready, true);
  assert.equal(p.exitCode, 1);
  assert.equal(p.info, 'uname=6.1.0-57-amd64');
  assert.deepEqual(p.phases, ['boot 6 s', 'load-report 60 s']);
  assert.deepEqual(p.notes, ['t.ts: a node process died by a signal under TCG; run again']);
  assert.deepEqual(p.tests, [
    { name: 'first', ok: true, skipped: false },
    { name: 'second', ok: true, skipped: true },
    { name: 'third', ok: false, skipped: false },
  ]);
  assert.deepEqual(judge(run(text), true), ['exit status 1', 'test failed: third']);
});

test('in a guest, a program on a later hook set than its first is a finding; on the host it is the fallback', () => {
  const fellBack = program({
    program: 'cachestat',
    sets: ['fentry', 'kprobe', 'tp_btf'],
    hook: 'tp_btf',
    reasons: [{ hook: 'fentry', reason: 'EPERM', log: ['the end of the log'] }],
  });
  const text = ['KMX_READY', json(fellBack), 'KMX_EXIT=0'].join('\n');
  assert.deepEqual(judge(run(text), true), [
    'cachestat: chose tp_btf, not its preferred fentry (fentry: EPERM | the end of the log)',
  ]);
  assert.deepEqual(judge({ ...run(text), where: 'host' }, false), []);
});

test('a set calling a kfunc newer than the kernel, refused by its verifier, excuses the fallback', () => {
  const raw = (hook: string, reason: string): ProgramReport =>
    program({
      program: 'raw-tracepoints',
      sets: ['raw_tp', 'raw_tp_probe'],
      hook,
      attached: 1,
      programs: 1,
      reasons: hook === 'raw_tp' ? [] : [{ hook: 'raw_tp', reason }],
    });
  const verdict = (p: ProgramReport, kernel: string): string[] =>
    judge(
      {
        ...run(['KMX_READY', json(p), 'KMX_EXIT=0'].join('\n')),
        kernel,
        config: 'CONFIG_KALLSYMS_ALL=y\nCONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS=y\n',
      },
      true,
    );
  const refused = 'load x: program raw_tp__timer_start: verifier rejected it: R0 !read_ok [ERR_BPF_VERIFIER]';
  assert.deepEqual(verdict(raw('raw_tp_probe', refused), '6.1.0-57-amd64'), []);
  assert.equal(verdict(raw('raw_tp_probe', refused), '6.12.9-amd64').length, 1, 'a kernel that has it');
  assert.equal(verdict(raw('raw_tp_probe', 'EPERM'), '6.1.0-57-arm64').length, 1, 'another failure');
  assert.deepEqual(verdict(raw('raw_tp', ''), '6.18.44'), []);
});

test('no hook set ran: a failure, unless the machine lacks what the program measures', () => {
  const none = program({ program: 'x', hook: 'none', attached: 0, programs: 0, error: 'not built' });
  const noPmu = program({ program: 'llcstat', hook: 'none', unavailable: 'no hardware PMU' });
  const text = ['KMX_READY', json(none), json(noPmu), 'KMX_EXIT=0'].join('\n');
  const problems = judge(run(text), true);
  assert.equal(problems.length, 2);
  assert.match(problems[0] ?? '', /^x: no hook set ran \(not built\)$/);
  assert.match(problems[1] ?? '', /^x: chose none, not its preferred kprobe/);
});

test('the compatibility table has one row per program and one column per kernel', () => {
  const guest = run(['KMX_READY', json(program({ program: 'a' })), 'KMX_EXIT=0'].join('\n'));
  const host: Omit<KernelRun, 'problems'> = {
    ...guest,
    kernel: '6.18.44',
    where: 'host',
    programs: [
      program({ program: 'a', kernel: '6.18.44', hook: 'tracepoint', attached: 1, programs: 1, events: 3 }),
    ],
  };
  const md = markdown([
    { ...guest, problems: [] },
    { ...host, problems: [] },
  ]);
  assert.match(
    md,
    /^\| program \| 6\.1\.0-57-amd64 \(Debian, qemu\) \| 6\.18\.44 \(x86_64 development host\) \|$/m,
  );
  assert.match(md, /^\| a \| kprobe \(2\/2\), 10 events \| tracepoint \(1\/1\), 3 events \|$/m);
});

test("a fallback is the kernel's only when its own config rules the preferred set out, and it failed so", () => {
  const fellBack = program({
    program: 'cachestat',
    sets: ['fentry', 'kprobe', 'tp_btf'],
    hook: 'kprobe',
    reasons: [
      {
        hook: 'fentry',
        reason: 'attach fentry__x (fentry/x): ENOTSUPP (operation not supported by the kernel)',
      },
    ],
  });
  const text = ['KMX_READY', json(fellBack), 'KMX_EXIT=0'].join('\n');
  const noDirectCalls = '# CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS is not set\nCONFIG_KALLSYMS_ALL=y\n';
  const withDirectCalls = 'CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS=y\nCONFIG_KALLSYMS_ALL=y\n';
  assert.deepEqual(judge({ ...run(text), config: noDirectCalls }, true), []);
  // The kernel has trampolines: an ENOTSUPP there is ours to explain.
  assert.match(
    judge({ ...run(text), config: withDirectCalls }, true)[0] ?? '',
    /^cachestat: chose kprobe, not its preferred fentry/,
  );
  // No config known: no excuse.
  assert.equal(judge(run(text), true).length, 1);
  // Another failure than the one the config explains (a verifier EPERM) is not excused.
  const eperm = program({ ...fellBack, reasons: [{ hook: 'fentry', reason: 'load: EPERM' }] });
  const text2 = ['KMX_READY', json(eperm), 'KMX_EXIT=0'].join('\n');
  assert.equal(judge({ ...run(text2), config: noDirectCalls }, true).length, 1);
  // A data symbol missing from kallsyms is excused only without CONFIG_KALLSYMS_ALL.
  const jit = program({
    program: 'bpf-jit',
    sets: ['kprobe', 'syscall', 'iter'],
    hook: 'iter',
    reasons: [
      { hook: 'kprobe', reason: 'kaddrs: bpf_jit_current not in /proc/kallsyms [ERR_EBPF_KADDR]' },
      { hook: 'syscall', reason: 'kaddrs: bpf_jit_current not in /proc/kallsyms [ERR_EBPF_KADDR]' },
    ],
  });
  const text3 = ['KMX_READY', json(jit), 'KMX_EXIT=0'].join('\n');
  assert.deepEqual(judge({ ...run(text3), config: '# CONFIG_KALLSYMS_ALL is not set\n' }, true), []);
  assert.equal(judge({ ...run(text3), config: 'CONFIG_KALLSYMS_ALL=y\n' }, true).length, 1);
  // The table says why.
  const md = markdown([{ ...run(text), config: noDirectCalls, problems: [] }]);
  assert.match(
    md,
    /cachestat, fentry: .*ENOTSUPP.* — the kernel has no CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS/,
  );
});
