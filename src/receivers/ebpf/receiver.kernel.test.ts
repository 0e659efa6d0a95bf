import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { HistogramPoint, ScalarPoint } from '../../pipeline/data.ts';
import { SelfTelemetry } from '../../pipeline/telemetry.ts';
import { programIdsHeldBy } from '../../../test/helpers/bpf-programs.ts';
import { expectedHook } from '../../../test/helpers/kernel-features.ts';
import { ebpfReceiverFactory } from './factory.ts';
import { configSchema } from './config.ts';
import type { EbpfReceiver } from './receiver.ts';
import { testHost } from '../../../test/helpers/host.ts';
import { collectOnce } from '../../../test/helpers/program-run.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const obj = (name: string): string => join(root, 'build', 'bpf', `${name}.bpf.o`);
const logger = pino({ level: 'silent' });

async function receiver(raw: Record<string, unknown>): Promise<EbpfReceiver> {
  const parsed = configSchema.parse(raw);
  return (await ebpfReceiverFactory.create(
    { id: 'ebpf/test', logger, configDir: root },
    parsed,
  )) as EbpfReceiver;
}

test('exp2 histogram from write(2) sizes this process makes: exact buckets, sum and count', async () => {
  const r = await receiver({
    program: obj('write_sizes'),
    metrics_file: 'test/bpf/write_sizes.yaml',
    globals: { targ_tgid: process.pid },
    poll_interval: '1h',
  });
  await r.start(testHost());
  try {
    const fd = openSync('/dev/null', 'w');
    const before = (await collectOnce(r))[0]?.points[0] as HistogramPoint | undefined;
    for (const size of [3, 1000, 1024, 5000]) writeSync(fd, Buffer.alloc(size));
    const after = (await collectOnce(r))[0]?.points[0] as HistogramPoint;
    closeSync(fd);
    const delta = (i: number): number => (after.counts[i] ?? 0) - (before?.counts[i] ?? 0);
    assert.deepEqual(after.boundaries.slice(0, 4), [1, 2, 4, 8]);
    assert.equal(delta(2), 1, '3 → le 4');
    assert.equal(delta(10), 2, '1000 and 1024 → le 1024');
    assert.equal(delta(13), 1, '5000 → le 8192');
    assert.equal(after.count - (before?.count ?? 0), 4);
    assert.equal(after.sum - (before?.sum ?? 0), 3 + 1000 + 1024 + 5000);
  } finally {
    await r.shutdown();
  }
});

const HOOK_CHAIN = ['fentry', 'kprobe', 'tracepoint'] as const;

test('hook fallback on this kernel: each set before the one the kernel allows fails with its reason, the chosen one runs and counts', async () => {
  // On the development kernel fentry fails to load (EPERM) and kprobe to attach, so the
  // tracepoint runs; on kernels with fentry (the qemu kernel matrix) fentry is chosen.
  const chosen = expectedHook(HOOK_CHAIN);
  const index = HOOK_CHAIN.indexOf(chosen as (typeof HOOK_CHAIN)[number]);
  const telemetry = new SelfTelemetry();
  const r = await receiver({
    program: obj('hook_chain'),
    metrics_file: 'test/bpf/hook_chain.yaml',
    globals: { targ_tgid: process.pid },
  });
  await r.start(testHost({ telemetry }));
  try {
    assert.equal(r.hook, chosen);
    // Sets after the chosen one are never tried.
    assert.deepEqual(
      r.attempts.map((a) => a.hook),
      HOOK_CHAIN.slice(0, index + 1),
    );
    const [fentry, kprobe] = r.attempts;
    if (chosen !== 'fentry') {
      assert.equal(fentry?.ok, false);
      assert.match(fentry?.reason ?? '', /EPERM \(operation not permitted\)/);
    }
    if (chosen === 'tracepoint') {
      assert.equal(kprobe?.ok, false);
      assert.match(kprobe?.reason ?? '', /attach kprobe__getppid \(kprobe\/__do_sys_getppid\): .*E[A-Z]+ \(/);
    }
    assert.equal(r.attempts[index]?.ok, true);
    // The chosen set in program_attached; the sets rejected before it in program_hook_rejected.
    const family = (name: string): Map<string, ScalarPoint> =>
      new Map(
        ((telemetry.snapshot().find((f) => f.name === name)?.points ?? []) as ScalarPoint[]).map((p) => [
          `${p.labels['hook']}:${p.labels['program']}`,
          p,
        ]),
      );
    const series = family('program_attached');
    const rejected = family('program_hook_rejected');
    if (chosen !== 'fentry') {
      assert.equal(rejected.get('fentry:fentry__getppid')?.labels['reason'], 'EPERM');
      assert.equal(rejected.get('fentry:fentry__getppid')?.value, 1);
      assert.equal(series.get('fentry:fentry__getppid'), undefined);
    }
    if (chosen === 'tracepoint') {
      assert.match(rejected.get('kprobe:kprobe__getppid')?.labels['reason'] ?? '', /^E[A-Z]+$/);
      assert.equal(rejected.get('kprobe:kprobe__getppid')?.value, 1);
    }
    assert.equal(series.get(`${chosen}:${chosen}__getppid`)?.labels['reason'], 'ok');
    assert.equal(series.get(`${chosen}:${chosen}__getppid`)?.value, 1);
    for (const later of HOOK_CHAIN.slice(index + 1))
      assert.equal(rejected.get(`${later}:${later}__getppid`), undefined, `${later} was not tried`);

    const count = async (): Promise<number> => ((await collectOnce(r))[0]?.points[0] as ScalarPoint).value;
    const before = await count();
    for (let i = 0; i < 25; i++) void process.ppid; // getppid(2) each time
    assert.equal((await count()) - before, 25);
  } finally {
    await r.shutdown();
    await r.shutdown();
  }
});

test('with kernel.bpf_stats_enabled=1 the program run count and time are reported per program id', async () => {
  const sysctl = '/proc/sys/kernel/bpf_stats_enabled';
  const saved = readFileSync(sysctl, 'utf8').trim();
  writeFileSync(sysctl, '1');
  const telemetry = new SelfTelemetry();
  telemetry.level = 'detailed'; // the run statistics are exported at `detailed` only
  const r = await receiver({
    program: obj('hook_chain'),
    metrics_file: 'test/bpf/hook_chain.yaml',
    globals: { targ_tgid: process.pid },
  });
  try {
    await r.start(testHost({ telemetry }));
    for (let i = 0; i < 40; i++) void process.ppid;
    await collectOnce(r);
    const snap = telemetry.snapshot();
    const info = (snap.find((f) => f.name === 'ebpf_program_info')?.points ?? []) as ScalarPoint[];
    const program = `${expectedHook(HOOK_CHAIN)}__getppid`;
    const id = info.find((p) => p.labels['program'] === program)?.labels['id'];
    assert.ok(id, 'program info carries the kernel id');
    const byId = (name: string): ScalarPoint | undefined =>
      ((snap.find((f) => f.name === name)?.points ?? []) as ScalarPoint[]).find((p) => p.labels['id'] === id);
    const count = byId('ebpf_program_run_count_total')?.value ?? 0;
    assert.ok(count >= 40, `run count ${count}`);
    // ebpf_exporter's layout: run time and attachment by id alone, joined with ebpf_program_info on id.
    assert.deepEqual(byId('ebpf_program_run_count_total')?.labels, { id });
    assert.ok((byId('ebpf_program_run_time_seconds')?.value ?? 0) > 0, 'run time');
    assert.deepEqual(byId('ebpf_program_attached'), { labels: { id }, value: 1 });
  } finally {
    await r.shutdown();
    writeFileSync(sysctl, saved);
  }
});

test('a preference order from the config is honoured', async () => {
  const r = await receiver({ program: 'timers', hooks: ['tracepoint', 'tp_btf'] });
  await r.start(testHost());
  try {
    assert.equal(r.hook, 'tracepoint');
  } finally {
    await r.shutdown();
  }
});

test('metrics restricted by hooks: are read only when their hook set is the one attached', async () => {
  const chosen = expectedHook(['fentry', 'kprobe', 'tracepoint']);
  const metric = (name: string, hooks: string[]): Record<string, unknown> => ({
    name,
    help: `getppid calls counted through ${hooks.join(' or ')}`,
    map: 'getppid_calls_total',
    hooks,
  });
  const r = await receiver({
    program: obj('hook_chain'),
    globals: { targ_tgid: process.pid },
    metrics: {
      counters: [
        metric('probe_getppid_calls_total', ['fentry', 'kprobe']),
        metric('tracepoint_getppid_calls_total', ['tracepoint']),
        { name: 'all_getppid_calls_total', help: 'every set', map: 'getppid_calls_total' },
      ],
    },
  });
  await r.start(testHost());
  try {
    assert.equal(r.hook, chosen);
    for (let i = 0; i < 7; i++) void process.ppid;
    const families = await collectOnce(r);
    const names = families.map((f) => f.name).sort();
    const own = chosen === 'tracepoint' ? 'tracepoint_getppid_calls_total' : 'probe_getppid_calls_total';
    assert.deepEqual(names, ['all_getppid_calls_total', own].sort());
    const value = (name: string): number =>
      (families.find((f) => f.name === name)?.points[0] as ScalarPoint).value;
    assert.equal(value(own), value('all_getppid_calls_total'));
    assert.ok(value(own) >= 7);
  } finally {
    await r.shutdown();
  }
});

test('hooks: naming a set the object does not declare is an error at start, naming the set', async () => {
  const r = await receiver({
    program: obj('hook_chain'),
    metrics: {
      counters: [{ name: 'getppid_calls_total', help: 'h', hooks: ['kprobes'] }],
    },
  });
  const before = programIdsHeldBy('self');
  await assert.rejects(r.start(testHost()), (err: Error & { code?: string; details?: string[] }) => {
    assert.equal(err.code, 'ERR_EBPF_LAYOUT');
    assert.match(
      err.details?.join('\n') ?? '',
      /metric getppid_calls_total: hooks names set kprobes, but the object declares fentry, kprobe, tracepoint/,
    );
    return true;
  });
  assert.deepEqual(programIdsHeldBy('self'), before, 'the object was closed again');
});

test('label sizes that do not add up to the key are an error at start, and nothing stays loaded', async () => {
  const r = await receiver({
    program: obj('hook_chain'),
    metrics: {
      counters: [
        {
          name: 'getppid_calls_total',
          help: 'h',
          labels: [{ name: 'a', size: 2, decoders: [{ name: 'uint' }] }],
        },
      ],
    },
  });
  const before = programIdsHeldBy('self');
  await assert.rejects(r.start(testHost()), (err: Error & { code?: string; details?: string[] }) => {
    assert.equal(err.code, 'ERR_EBPF_LAYOUT');
    assert.match(
      err.details?.join('\n') ?? '',
      /label sizes and padding add up to 2 bytes, but the map key is 4 bytes/,
    );
    return true;
  });
  assert.deepEqual(programIdsHeldBy('self'), before, 'the object was closed again');
});

test('the poll timer reads the maps only when no pull read them within the interval', async () => {
  mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const r = await receiver({
    program: obj('write_sizes'),
    metrics_file: 'test/bpf/write_sizes.yaml',
    globals: { targ_tgid: process.pid },
    poll_interval: '10s',
  });
  let batches = 0;
  const sub = r.output$.subscribe(() => batches++);
  try {
    await r.start(testHost());
    assert.equal(batches, 1, 'one read at start');
    for (let i = 0; i < 3; i++) mock.timers.tick(10_000);
    assert.equal(batches, 4, 'no pulls: a read every 10 s');
    for (let i = 0; i < 6; i++) {
      mock.timers.tick(5_000);
      await r.collectNow(); // a scrape every 5 s, from 35 s to 60 s
    }
    assert.equal(batches, 4 + 6, 'scrapes every 5 s: the timer (40, 50, 60 s) never reads');
    mock.timers.tick(5_000);
    await r.collectNow(); // the last scrape, at 65 s
    mock.timers.tick(5_000);
    assert.equal(batches, 11, 'at 70 s the maps were read 5 s ago: the timer skips');
    mock.timers.tick(10_000);
    assert.equal(batches, 12, 'at 80 s no read for 15 s: the timer reads again');
  } finally {
    sub.unsubscribe();
    await r.shutdown();
    mock.timers.reset();
  }
});
