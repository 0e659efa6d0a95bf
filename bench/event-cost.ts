/**
 * Per-event kernel cost of one shipped program against a minimal counting program on the
 * same hook (bench/bpf/minimal.bpf.c), in the same run: the program's own trigger loop
 * (bench/floor/trigger.c, pinned to the last CPU) timed with nothing attached, with the program (loaded with hook
 * fallback as the receiver loads it) and with the minimal program, interleaved over
 * several rounds; each round's differences are paired, their medians reported.
 * Events per iteration come from the minimal program's count (every process's events on
 * that hook: run it on a quiet machine).
 *
 *   npx node bench/event-cost.ts <program> <trigger> <iterations> <rounds>
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { openObject, type BpfObject } from '../src/native/index.ts';
import { defaultHookOrder } from '../src/receivers/ebpf/config.ts';
import { loadWithFallback } from '../src/receivers/ebpf/loader.ts';
import { benchPath, median } from './lib.ts';

const [program = 'timers', trigger = 'tcp', nArg = '2000', roundsArg = '7'] = process.argv.slice(2);
const n = Number(nArg);
const rounds = Number(roundsArg);

/** The trigger runs on the last CPU (usually the quieter one), every run on the same. */
const TRIGGER_CPU = String(availableParallelism() - 1);

function run(): number {
  const r = spawnSync(benchPath('build/bench/trigger'), [trigger, String(n)], {
    encoding: 'utf8',
    env: { ...process.env, TRIGGER_CPU },
  });
  if (r.status !== 0) throw new Error(`trigger ${trigger}: ${r.stderr}`);
  // CPU time of the trigger process (the programs run in its context): steadier than wall
  // time on a shared machine.
  return Number(r.stdout.trim().split(' ')[1]) / n;
}

/** `count__<set>__<event>` for a section such as tp_btf/timer_start or uprobe/libc.so.6:malloc. */
function minimalName(section: string): string {
  const set = section.split('/')[0] as string;
  const event = section.split(/[/:]/).pop() as string;
  return `count__${set}__${event}`;
}

const path = benchPath(`build/bpf/${program}.bpf.o`);
if (!existsSync(path)) {
  console.log(JSON.stringify({ program, skipped: `${path} not built` }));
  process.exit(0);
}
const outcome = loadWithFallback({ path, openOptions: {}, globals: {}, hookOrder: defaultHookOrder });
const obj = outcome.object;
let minimal: BpfObject | undefined;
try {
  const chosen = outcome.attempts.find((a) => a.ok);
  if (!obj || !chosen) throw new Error(`${program}: no hook set loads here`);
  const attached = chosen.attached.filter((a) => a.attached);
  const names = attached.map((a) => a.program);
  const wanted = attached.map((a) => minimalName(a.section));
  const spec = openObject(benchPath('build/bench/minimal.bpf.o'));
  const missing = wanted.filter((w) => !spec.programs().some((p) => p.name === w));
  if (missing.length > 0) {
    spec.close();
    console.log(
      JSON.stringify({ program, hook: outcome.hook, skipped: `no minimal program ${missing.join(', ')}` }),
    );
    process.exit(0);
  }
  for (const p of spec.programs()) spec.setAutoload(p.name, wanted.includes(p.name));
  minimal = spec.load();
  const hits = minimal.map('hits');
  const zero = Buffer.alloc(4);
  const count = (): number => Number(hits.lookup(zero)?.readBigUInt64LE(0) ?? 0n);
  for (const name of names) obj.detach(name);

  const detachAll = (): void => {
    for (const name of names) obj.detach(name);
    for (const name of wanted) minimal?.detach(name);
  };
  const attach = (o: BpfObject, progs: string[]): void => {
    const r = o.attach(progs);
    const failed = r.filter((a) => !a.attached);
    if (failed.length > 0) throw new Error(`re-attach failed: ${JSON.stringify(failed)}`);
  };
  const none: number[] = [];
  const prog: number[] = [];
  const min: number[] = [];
  const events: number[] = [];
  run(); // warm up
  for (let r = 0; r < rounds; r++) {
    const order = [0, 1, 2].map((i) => (i + r) % 3);
    const t: number[] = [];
    for (const which of order) {
      detachAll();
      if (which === 1) attach(obj, names);
      if (which === 2) attach(minimal, wanted);
      const before = count();
      t[which] = run();
      if (which === 2) events.push((count() - before) / n);
    }
    detachAll();
    none.push(t[0] as number);
    prog.push((t[1] as number) - (t[0] as number));
    min.push((t[2] as number) - (t[0] as number));
  }
  // The programs' own run time per run (kernel.bpf_stats through BPF_ENABLE_STATS, held by
  // a helper only for this phase: it adds two clock reads to every program run).
  const holder = spawn(benchPath('build/bench/trigger'), ['stats', '0'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await once(holder.stdout, 'data');
  const runStats = (o: BpfObject, progs: string[]): { count: number; ns: number } => {
    let count = 0;
    let ns = 0;
    for (const p of o.programs()) {
      if (!progs.includes(p.name)) continue;
      count += p.runCount ?? 0;
      ns += p.runTimeNs ?? 0;
    }
    return { count, ns };
  };
  const inProgram = (o: BpfObject, progs: string[]): number => {
    detachAll();
    attach(o, progs);
    const a = runStats(o, progs);
    run();
    const b = runStats(o, progs);
    detachAll();
    return b.count > a.count ? (b.ns - a.ns) / (b.count - a.count) : NaN;
  };
  let programRunNs: number;
  let minimalRunNs: number;
  try {
    programRunNs = inProgram(obj, names);
    minimalRunNs = inProgram(minimal, wanted);
  } finally {
    holder.stdin.end();
    await once(holder, 'exit');
  }
  const perIter = median(events);
  const progNs = median(prog);
  const minNs = median(min);
  console.log(
    JSON.stringify({
      program,
      hook: outcome.hook || 'default',
      sections: attached.map((a) => a.section),
      trigger,
      iterationNs: median(none),
      eventsPerIteration: perIter,
      programNsPerEvent: progNs / perIter,
      minimalNsPerEvent: minNs / perIter,
      ratio: progNs / minNs,
      programRunNs,
      minimalRunNs,
    }),
  );
} finally {
  minimal?.close();
  obj?.close();
}
