/**
 * bpf-jit on the live kernel: the hook set the kernel allows is chosen (here
 * the bpf_prog iterator, because bpf_jit_current is not in kallsyms), the
 * sets that need the missing symbol report why, and loading one extra program
 * moves the gauge by exactly that program's JITed size and back on close. Where
 * bpf_jit_current is in kallsyms (Debian's kernels) the kprobe set reads it at
 * every collection: it rises by at least the program's JITed size and falls back
 * once the image is freed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pino } from 'pino';
import type { MetricBatch, MetricFamily, ScalarPoint } from '../../src/pipeline/data.ts';
import { assemble } from '../../src/pipeline/assemble.ts';
import { SelfTelemetry } from '../../src/pipeline/telemetry.ts';
import { ebpfReceiverFactory } from '../../src/receivers/ebpf/factory.ts';
import { configSchema } from '../../src/receivers/ebpf/config.ts';
import type { EbpfReceiver } from '../../src/receivers/ebpf/receiver.ts';
import { sharedKallsyms } from '../../src/kernel/kallsyms.ts';
import { openObject } from '../../src/native/index.ts';
import { supportedHooks } from '../helpers/kernel-features.ts';
import { repoRoot } from '../helpers/agent.ts';
import { testHost } from '../helpers/host.ts';

const logger = pino({ level: 'silent' });
const EXTRA = join(repoRoot, 'build', 'bpf', 'jit_extra.bpf.o');

function expectedHook(): string {
  if (sharedKallsyms().addressOf('bpf_jit_current') === undefined) return 'iter';
  return supportedHooks().has('kprobe') ? 'kprobe' : 'syscall';
}

test('bpf-jit: the gauge follows an extra program being loaded and closed', async (t) => {
  const telemetry = new SelfTelemetry();
  const host = testHost({ logger, telemetry });
  const receiver = (await ebpfReceiverFactory.create(
    { id: 'ebpf/bpf-jit', logger, configDir: repoRoot },
    configSchema.parse({ program: 'bpf-jit' }),
  )) as EbpfReceiver;
  let last: MetricFamily[] = [];
  const sub = receiver.output$.subscribe((b: MetricBatch) => (last = assemble(b.families)));
  await receiver.start(host);
  const hook = expectedHook();
  const metric = hook === 'iter' ? 'bpf_jit_program_bytes' : 'bpf_jit_pages_currently_allocated';
  const gauge = async (): Promise<number> => {
    await receiver.collectNow();
    const points = (last.find((f) => f.name === metric)?.points ?? []) as ScalarPoint[];
    assert.equal(points.length, 1, `one ${metric} point`);
    return (points[0] as ScalarPoint).value;
  };
  try {
    assert.equal(receiver.hook, hook);
    const names = last.map((f) => f.name);
    const other = hook === 'iter' ? 'bpf_jit_pages_currently_allocated' : 'bpf_jit_program_bytes';
    assert.ok(names.includes(metric), `${metric} exported: ${names.join(', ')}`);
    assert.ok(!names.includes(other), `${other} is not exported by the ${hook} set`);
    if (hook === 'iter') {
      // The sets that read bpf_jit_current fail for the missing symbol, with the reason.
      const rows = ['program_attached', 'program_hook_rejected'].flatMap((name) =>
        ((telemetry.snapshot().find((f) => f.name === name)?.points ?? []) as ScalarPoint[]).map(
          (p) => p.labels,
        ),
      );
      for (const set of ['kprobe', 'syscall']) {
        const row = rows.find((l) => l['hook'] === set);
        assert.equal(row?.['reason'], 'ERR_EBPF_KADDR', `${set}: ${JSON.stringify(rows)}`);
      }
      assert.ok(rows.some((l) => l['hook'] === 'iter' && l['reason'] === 'ok'));
      const why = receiver.attempts.find((a) => a.hook === 'kprobe')?.reason ?? '';
      assert.match(why, /kaddrs: bpf_jit_current not in \/proc\/kallsyms/);
    }

    // Other tests on this machine load and unload programs too: a cycle counts
    // only when the gauge held still around each step.
    const failures: string[] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      const a = await gauge();
      const b = await gauge();
      const extra = openObject(EXTRA).load();
      let jited: number;
      let c: number;
      let d: number;
      try {
        jited = extra.programs()[0]?.jitedLen ?? 0;
        c = await gauge();
        d = await gauge();
      } finally {
        extra.close();
      }
      // The iterator stops seeing a program at once; bpf_jit_current is uncharged when the
      // kernel frees the JIT image, after an RCU grace period: give it a few collections.
      let e = await gauge();
      for (let i = 0; hook !== 'iter' && e !== a && i < 20; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        e = await gauge();
      }
      const f = await gauge();
      if (a !== b || c !== d || e !== f || e !== a) {
        failures.push(`noise: ${a} ${b} | ${c} ${d} | ${e} ${f}`);
        continue;
      }
      t.diagnostic(`${hook}: ${metric} ${a} → ${c} → ${e} for a program of ${jited} JITed bytes`);
      assert.ok(jited > 0, 'the extra program is JITed');
      if (hook === 'iter') assert.equal(c - a, jited, `rose by the program's ${jited} JITed bytes`);
      // Charged in whole 64-byte chunks with the image's header (pack allocator) or in pages.
      else assert.ok(c - a >= jited, `bpf_jit_current rose by ${c - a} for ${jited} JITed bytes`);
      return;
    }
    assert.fail(`no quiet cycle in 6 attempts: ${failures.join('; ')}`);
  } finally {
    sub.unsubscribe();
    await receiver.shutdown();
  }
});
