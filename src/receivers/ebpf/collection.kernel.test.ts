/**
 * Programs run at collection (loader.ts collectionRuns): the chosen set's
 * `syscall` programs are test-run and its `iter/` programs read once before
 * every map read; and a kaddr missing from kallsyms fails only the set that
 * marks it as needed (HOOK_NEEDS_KADDR), not the receiver.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pino } from 'pino';
import type { MetricBatch, MetricFamily, ScalarPoint } from '../../pipeline/data.ts';
import { assemble } from '../../pipeline/assemble.ts';
import { SelfTelemetry } from '../../pipeline/telemetry.ts';
import { ebpfReceiverFactory } from './factory.ts';
import { configSchema } from './config.ts';
import type { EbpfReceiver } from './receiver.ts';
import { testHost } from '../../../test/helpers/host.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const logger = pino({ level: 'silent' });

const metrics = {
  counters: [
    { name: 'test_runs_total', help: 'Test runs of count_test_runs' },
    { name: 'iterator_passes_total', help: 'Passes of the bpf_prog iterator' },
  ],
};

async function run(
  kaddrs: string[],
): Promise<{ r: EbpfReceiver; values: number[][]; telemetry: Pick<SelfTelemetry, 'snapshot'> }> {
  const telemetry = new SelfTelemetry();
  const r = (await ebpfReceiverFactory.create(
    { id: 'ebpf/collect', logger, configDir: root },
    configSchema.parse({
      program: join(root, 'build', 'bpf', 'collect_runs.bpf.o'),
      metrics,
      kaddrs,
      poll_interval: '1h',
    }),
  )) as EbpfReceiver;
  let last: MetricFamily[] = [];
  const sub = r.output$.subscribe((b: MetricBatch) => (last = assemble(b.families)));
  const value = (name: string): number =>
    ((last.find((f) => f.name === name)?.points ?? []) as ScalarPoint[])[0]?.value ?? -1;
  const values: number[][] = [];
  let snapshot: MetricFamily[] = [];
  try {
    await r.start(testHost({ logger, telemetry }));
    values.push([value('test_runs_total'), value('iterator_passes_total')]); // the first poll at start
    for (let i = 0; i < 3; i++) {
      await r.collectNow();
      values.push([value('test_runs_total'), value('iterator_passes_total')]);
    }
    snapshot = telemetry.snapshot(); // the receiver's series end with it
  } finally {
    sub.unsubscribe();
    await r.shutdown();
  }
  return { r, values, telemetry: { snapshot: () => snapshot } };
}

test('the syscall set: its syscall programs are test-run once per collection, before the read', async () => {
  const { r, values } = await run([]);
  assert.equal(r.hook, 'syscall');
  assert.deepEqual(values, [
    [1, 0],
    [2, 0],
    [3, 0],
    [4, 0],
  ]);
});

test('a missing kaddr fails only the set that needs it; the iter set runs its iterator once per collection', async () => {
  const { r, values, telemetry } = await run(['ec_no_such_symbol']);
  assert.equal(r.hook, 'iter');
  assert.match(
    r.attempts.find((a) => a.hook === 'syscall')?.reason ?? '',
    /^kaddrs: ec_no_such_symbol not in \/proc\/kallsyms \(data symbols need CONFIG_KALLSYMS_ALL\) \[ERR_EBPF_KADDR\]$/,
  );
  const rows = (family: string): unknown[][] =>
    ((telemetry.snapshot().find((f) => f.name === family)?.points ?? []) as ScalarPoint[]).map((p) => [
      p.labels['program'],
      p.labels['hook'],
      p.labels['reason'],
      p.value,
    ]);
  assert.deepEqual(
    rows('program_attached').sort(),
    [
      ['count_test_runs', 'iter', 'ok', 1],
      ['iter__passes', 'iter', 'ok', 1],
    ].sort(),
  );
  assert.deepEqual(
    rows('program_hook_rejected').sort(),
    [
      ['count_test_runs', 'syscall', 'ERR_EBPF_KADDR', 1],
      ['syscall__noop', 'syscall', 'ERR_EBPF_KADDR', 1],
    ].sort(),
  );
  assert.deepEqual(values, [
    [1, 1],
    [2, 2],
    [3, 3],
    [4, 4],
  ]);
});
