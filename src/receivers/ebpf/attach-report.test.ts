import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { SelfTelemetry } from '../../pipeline/telemetry.ts';
import type { ScalarPoint } from '../../pipeline/data.ts';
import { attachFamilies, attachHealth, logAttach, recordAttach, shortReason } from './attach-report.ts';
import type { HookAttempt } from './loader.ts';

const NO_PMU = 'no hardware PMU (virtualised?)';

const fentryRejected: HookAttempt = {
  hook: 'fentry',
  ok: false,
  programs: ['fentry__a'],
  reason: 'load x.bpf.o: program fentry__a: EPERM (operation not permitted) [ERR_BPF_LOAD]',
  attached: [],
};
const tpChosen: HookAttempt = {
  hook: 'tp_btf',
  ok: true,
  programs: ['tp_btf__a', 'tp_btf__b'],
  attached: [
    { program: 'tp_btf__a', section: 'tp_btf/a', attached: true },
    { program: 'tp_btf__b', section: 'tp_btf/b', attached: true },
  ],
};
const pmuRejected: HookAttempt = {
  hook: 'perf_event',
  ok: false,
  programs: ['perf_event__refs'],
  reason: `attach perf_event__refs (perf_event/type=0,config=2): ${NO_PMU}: ENOENT (no such file or directory)`,
  attached: [],
};
const looseHalf: HookAttempt = {
  hook: '',
  ok: true,
  programs: ['p1', 'p2'],
  attached: [
    { program: 'p1', section: 'kprobe/x', attached: true },
    { program: 'p2', section: 'kprobe/nope', attached: false, error: 'ENOENT (no such file or directory)' },
  ],
};

function rows(t: SelfTelemetry, name: string): unknown[][] {
  const points = (t.snapshot().find((f) => f.name === name)?.points ?? []) as ScalarPoint[];
  return points.map((p) => [
    p.labels['config'],
    p.labels['program'],
    p.labels['hook'],
    p.labels['reason'],
    p.value,
  ]);
}

function logs(run: (logger: pino.Logger) => void): { level: number; msg: string }[] {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  run(pino({ level: 'debug' }, sink));
  return lines.map((l) => JSON.parse(l) as { level: number; msg: string });
}

const subject = (optional: boolean) => ({ config: 'c', id: 'ebpf/c', optional });

test('a fallback that chose a set: program_attached holds the chosen set, program_hook_rejected the rest', () => {
  const t = new SelfTelemetry();
  recordAttach(attachFamilies(t), subject(false), [fentryRejected, tpChosen]);
  assert.deepEqual(rows(t, 'program_attached'), [
    ['c', 'tp_btf__a', 'tp_btf', 'ok', 1],
    ['c', 'tp_btf__b', 'tp_btf', 'ok', 1],
  ]);
  assert.deepEqual(rows(t, 'program_hook_rejected'), [['c', 'fentry__a', 'fentry', 'EPERM', 1]]);
});

test('no set runs: a required program is one 0 series; an optional one has none, its reasons are rejected series', () => {
  const required = new SelfTelemetry();
  recordAttach(attachFamilies(required), subject(false), [pmuRejected]);
  assert.deepEqual(rows(required, 'program_attached'), [['c', '', 'none', NO_PMU, 0]]);
  assert.deepEqual(rows(required, 'program_hook_rejected'), [
    ['c', 'perf_event__refs', 'perf_event', NO_PMU, 1],
  ]);
  const optional = new SelfTelemetry();
  recordAttach(attachFamilies(optional), subject(true), [pmuRejected]);
  assert.deepEqual(rows(optional, 'program_attached'), []);
  assert.deepEqual(rows(optional, 'program_hook_rejected'), [
    ['c', 'perf_event__refs', 'perf_event', NO_PMU, 1],
  ]);
});

test('loose attachment: a program of the chosen set that failed is 0 with its errno', () => {
  const t = new SelfTelemetry();
  recordAttach(attachFamilies(t), subject(false), [looseHalf]);
  assert.deepEqual(rows(t, 'program_attached'), [
    ['c', 'p1', 'default', 'ok', 1],
    ['c', 'p2', 'default', 'ENOENT', 0],
  ]);
});

test('log levels: fallbacks as designed and optional skips are info; a required program that cannot run is an error', () => {
  const fallback = logs((l) => logAttach(l, subject(false), [fentryRejected, tpChosen]));
  assert.deepEqual(
    fallback.map((r) => [r.level, r.msg]),
    [[30, 'hook set fentry rejected, falling back']],
  );
  assert.match(JSON.stringify(fallback[0]), /"reason":"load x.bpf.o: program fentry__a: EPERM/);
  const skipped = logs((l) => logAttach(l, subject(true), [pmuRejected]));
  assert.deepEqual(
    skipped.map((r) => r.level),
    [30],
  );
  assert.match(
    skipped[0]?.msg ?? '',
    /program c skipped: no hook set runs on this kernel \(optional: true\)/,
  );
  const failed = logs((l) => logAttach(l, subject(false), [pmuRejected]));
  assert.deepEqual(
    failed.map((r) => [r.level, r.msg]),
    [[50, 'ebpf/c: program c cannot run on this kernel: skipped, the rest of the pipeline runs']],
  );
  assert.deepEqual(
    logs((l) => logAttach(l, subject(false), [looseHalf])).map((r) => [r.level, r.msg]),
    [[50, 'program p2 did not attach']],
  );
  assert.deepEqual(
    logs((l) => logAttach(l, subject(true), [looseHalf])).map((r) => r.level),
    [30],
  );
});

test('health: not started, chosen, required without a set, optional without a set, loose half, stopped', () => {
  assert.deepEqual(attachHealth(subject(false), undefined, false), {
    ready: false,
    problems: ['not started'],
  });
  const chosen = attachHealth(subject(false), [fentryRejected, tpChosen], false);
  assert.equal(chosen.ready, true);
  assert.deepEqual(chosen.problems, []);
  assert.deepEqual(chosen.details?.['hook'], 'tp_btf');
  assert.deepEqual(chosen.details?.['attached'], ['tp_btf/a', 'tp_btf/b']);
  assert.deepEqual(chosen.details?.['rejected'], [{ hook: 'fentry', reason: fentryRejected.reason }]);

  const required = attachHealth(subject(false), [pmuRejected], false);
  assert.equal(required.ready, false);
  assert.equal(required.problems.length, 1);
  assert.match(
    required.problems[0] ?? '',
    /^program c runs on no hook set of this kernel \(perf_event: attach .*no hardware PMU/,
  );

  const optional = attachHealth(subject(true), [pmuRejected], false);
  assert.deepEqual([optional.ready, optional.problems], [true, []]);
  assert.match(String(optional.details?.['skipped']), /no hardware PMU/);

  const loose = attachHealth(subject(false), [looseHalf], false);
  assert.equal(loose.ready, false);
  assert.deepEqual(loose.problems, [
    'program c:p2 (kprobe/nope) not attached: ENOENT (no such file or directory)',
  ]);
  assert.equal(attachHealth(subject(true), [looseHalf], false).ready, true);
  assert.equal(attachHealth(subject(false), [tpChosen], true).ready, false);
});

test('shortReason: errno name, the no-PMU phrase, an error code, else failed', () => {
  assert.equal(shortReason(fentryRejected.reason), 'EPERM');
  assert.equal(shortReason(pmuRejected.reason), NO_PMU);
  assert.equal(shortReason('kaddrs: x not in /proc/kallsyms [ERR_EBPF_KADDR]'), 'ERR_EBPF_KADDR');
  assert.equal(shortReason(undefined), 'failed');
  assert.equal(shortReason('something odd'), 'failed');
});
