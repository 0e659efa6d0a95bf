import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deriveCapabilities, loadConfigForCaps, ruleOfSection, RULES } from './derive.ts';
import { capsReport, missingCapabilities, SECCOMP_LOCALHOST_PROFILE } from './report.ts';
import { parseKeepFlag } from './runtime.ts';
import { CollectorError } from '../errors.ts';

const pipelines = fileURLToPath(new URL('../../pipelines/', import.meta.url));
const plan = async (file: string): Promise<ReturnType<typeof deriveCapabilities>> =>
  deriveCapabilities(await loadConfigForCaps([join(pipelines, file)], {}));

test('sections map to rules', () => {
  const table: [string, keyof typeof RULES][] = [
    ['tracepoint/timer/timer_start', 'tracing'],
    ['tp_btf/timer_start', 'tracing'],
    ['raw_tp/block_rq_issue', 'tracing'],
    ['kprobe/shrink_node', 'tracing'],
    ['kretprobe/inet_csk_accept', 'tracing'],
    ['fentry/do_nanosleep', 'tracing'],
    ['iter/bpf_prog', 'tracing'],
    ['syscall', 'tracing'],
    ['perf_event/type=0,config=2,frequency=99', 'tracing'],
    ['uprobe/libc.so.6:malloc', 'uprobe'],
    ['uretprobe//usr/bin/node:main', 'uprobe'],
    ['usdt//usr/bin/python3.11:python:import__find__load__start', 'usdt'],
    ['xdp/eth0', 'network'],
    ['cgroup_skb/egress', 'network'],
    ['sockops', 'network'],
    ['socket', 'load'],
    ['struct_ops/x', 'unknown'],
  ];
  for (const [section, rule] of table) assert.equal(ruleOfSection(section), rule, section);
});

test('shipped pipelines: timers needs BPF, PERFMON and SYSLOG; keeps SYSLOG; no host PIDs', async () => {
  const p = await plan('timers.yaml');
  assert.deepEqual(p.capabilities, ['BPF', 'PERFMON', 'SYSLOG']);
  assert.deepEqual(p.afterAttach, ['SYSLOG']);
  assert.equal(p.hostPID, false);
  assert.ok(p.needs.some((n) => n.capability === 'SYSLOG' && n.by === 'metrics: processor ksym'));
  assert.ok(p.needs.some((n) => n.capability === 'PERFMON' && n.by === 'ebpf/timers: tp_btf/timer_start'));
});

test('shipped pipelines: kubernetes (the DaemonSet) needs BPF, PERFMON and SYSLOG, no host PIDs, even without K8S_NODE_NAME set', async () => {
  const p = await plan('kubernetes.yaml');
  assert.deepEqual(p.capabilities, ['BPF', 'PERFMON', 'SYSLOG']);
  assert.deepEqual(p.afterAttach, ['SYSLOG']);
  assert.equal(p.hostPID, false);
});

test('shipped pipelines: default needs SYS_ADMIN for its USDT program only', async () => {
  const p = await plan('default.yaml');
  assert.deepEqual(p.capabilities, ['BPF', 'PERFMON', 'SYSLOG', 'SYS_ADMIN']);
  assert.deepEqual(
    p.needs.filter((n) => n.capability === 'SYS_ADMIN').map((n) => n.by),
    ['ebpf/usdt: usdt//usr/bin/python3.11:python:import__find__load__start'],
  );
  assert.deepEqual(p.hostPIDBy, ['ebpf/uprobe', 'ebpf/usdt']);
});

test('shipped pipelines: execsnoop (ring buffer, cgroup paths) needs BPF and PERFMON only, keeps nothing', async () => {
  const p = await plan('execsnoop.yaml');
  assert.deepEqual(p.capabilities, ['BPF', 'PERFMON']);
  assert.deepEqual(p.afterAttach, []);
});

test('caps report: the securityContext adds exactly the derived list and points at the seccomp profile', async () => {
  const r = capsReport(await plan('default.yaml'));
  assert.equal(r.version, 1);
  assert.deepEqual(r.securityContext, {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    privileged: false,
    capabilities: { drop: ['ALL'], add: ['BPF', 'PERFMON', 'SYSLOG', 'SYS_ADMIN'] },
    seccompProfile: { type: 'Localhost', localhostProfile: SECCOMP_LOCALHOST_PROFILE },
  });
  assert.equal(r.hostPID, true);
  assert.deepEqual(r.hostPIDReason?.neededBy, ['ebpf/uprobe', 'ebpf/usdt']);
  assert.deepEqual(
    r.reasons.map((x) => x.rule),
    ['load', 'tracing', 'kallsyms', 'uprobe', 'usdt', 'perfBuffer', 'kaddrs'],
  );
});

test('missing capabilities: named with who needs them; SYS_ADMIN covers BPF and PERFMON; kernels before 5.8 need SYS_ADMIN', async () => {
  const p = await plan('timers.yaml');
  const missing = missingCapabilities(p, new Set(['BPF', 'SYSLOG']), 40);
  assert.deepEqual(
    missing.map((m) => [m.capability, m.neededBy]),
    [['PERFMON', ['ebpf/timers: tp_btf/timer_start', 'ebpf/timers: tracepoint/timer/timer_start']]],
  );
  assert.deepEqual(missingCapabilities(p, new Set(['SYS_ADMIN', 'SYSLOG']), 40), []);
  assert.deepEqual(
    missingCapabilities(p, new Set(['SYSLOG']), 38).map((m) => m.capability),
    ['SYS_ADMIN'],
  );
});

test('--capabilities.keep: all, none, comma lists in any spelling; unknown names name the flag', () => {
  assert.deepEqual(parseKeepFlag(undefined), { kind: 'derived' });
  assert.deepEqual(parseKeepFlag('all'), { kind: 'all' });
  assert.deepEqual(parseKeepFlag('none'), { kind: 'list', names: [] });
  assert.deepEqual(parseKeepFlag('cap_syslog,CAP_BPF, perfmon'), {
    kind: 'list',
    names: ['SYSLOG', 'BPF', 'PERFMON'],
  });
  assert.throws(
    () => parseKeepFlag('cap_syslog,cap_nope'),
    (e: unknown) =>
      e instanceof CollectorError &&
      e.format() ===
        '--capabilities.keep: unknown capability "cap_nope"; expected all, none, or a comma list of names such as cap_syslog,cap_bpf [ERR_CONFIG_VALUE]',
  );
});
