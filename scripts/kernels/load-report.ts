/**
 * Load/attach report of every shipped program on the running kernel, through the
 * real ebpf receiver: for each bpf/<name>.yaml with a built build/bpf/<name>.bpf.o,
 * start the receiver as a pipeline would, drive a small generic workload, read the
 * maps and report the hook set chosen, what attached, why earlier sets failed and
 * how many events the exported metrics counted during the workload.
 *
 * Prints one JSON object per line, each prefixed with "KMX_JSON " (the kernel
 * matrix collects them from a guest's serial port; scripts/kernels/run.ts):
 *   {"type":"kernel", release, hooks}          what the kernel offers (probed)
 *   {"type":"program", program, ...}           one per program
 * Exit status 1 when a program could not be started at all.
 *   npx node scripts/kernels/load-report.ts [--programs a,b] [--human]
 */
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
  openSync,
  fsyncSync,
  closeSync,
} from 'node:fs';
import { createServer, connect } from 'node:net';
import { spawnSync } from 'node:child_process';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { messageOf } from '../../src/errors.ts';
import { openObject } from '../../src/native/index.ts';
import { sumKey } from '../../src/pipeline/assemble.ts';
import type { Host } from '../../src/pipeline/component.ts';
import type { MetricBatch } from '../../src/pipeline/data.ts';
import { SelfTelemetry } from '../../src/pipeline/telemetry.ts';
import { configSchema, defaultHookOrder } from '../../src/receivers/ebpf/config.ts';
import { ebpfReceiverFactory } from '../../src/receivers/ebpf/factory.ts';
import { HOOK_FALLBACK_GLOBAL, orderedHookSets } from '../../src/receivers/ebpf/loader.ts';
import type { EbpfReceiver } from '../../src/receivers/ebpf/receiver.ts';
import { repoRoot } from '../../test/helpers/agent.ts';
import { supportedHooks } from '../../test/helpers/kernel-features.ts';

export interface ProgramReport {
  readonly type: 'program';
  readonly kernel: string;
  readonly program: string;
  /** Hook sets the object declares, in the receiver's default preference order ([] = no sets). */
  readonly sets: readonly string[];
  /** The hook set chosen ('default' for an object without sets, 'none' when nothing ran). */
  readonly hook: string;
  /** Programs attached / programs of the chosen set. */
  readonly attached: number;
  readonly programs: number;
  /** Why each earlier set (or a loosely attached program) failed. */
  readonly reasons: readonly {
    readonly hook: string;
    readonly reason: string;
    readonly log?: readonly string[];
  }[];
  /** Events counted during the workload: counter increments plus histogram samples. */
  readonly events: number;
  readonly metrics: Readonly<Record<string, number>>;
  readonly error?: string;
  /** Set when no hook set ran because the machine lacks what the program measures (a hardware PMU). */
  readonly unavailable?: string;
  readonly ms: number;
}

/** The end of libbpf's or the verifier's log: where the cause usually is. */
function lastLines(details: readonly string[] | undefined): string[] {
  return (details ?? []).slice(-4);
}

const logger = pino({ level: 'silent' });
const host: Host = { logger, telemetry: new SelfTelemetry(), pull: async () => undefined, ready: () => true };

/** Shipped programs: bpf/<name>.yaml; `built` when build/bpf/<name>.bpf.o exists. */
export function shippedPrograms(): { name: string; built: boolean }[] {
  return readdirSync(join(repoRoot, 'bpf'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort()
    .map((name) => ({ name, built: existsSync(join(repoRoot, 'build', 'bpf', `${name}.bpf.o`)) }));
}

function declaredSets(name: string): string[] {
  const spec = openObject(join(repoRoot, 'build', 'bpf', `${name}.bpf.o`));
  try {
    const declared = spec.globals().some((g) => g.name === HOOK_FALLBACK_GLOBAL);
    return declared ? orderedHookSets(spec, defaultHookOrder) : [];
  } finally {
    spec.close();
  }
}

/**
 * Per metric: counter sum, or histogram sample count (bucket points hold per-bucket
 * counts; the slot after the last bucket holds the sum of the values, not a count).
 */
function totals(batch: MetricBatch | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of batch?.families ?? []) {
    if (f.kind === 'gauge') continue;
    const sumAt = f.histogram ? sumKey(f.histogram) : undefined;
    let total = 0;
    for (const p of f.points) {
      const bucket = p.labels[p.labels.length - 1]?.value;
      if (sumAt !== undefined && typeof bucket === 'string' && Number(bucket) === sumAt) continue;
      total += p.value;
    }
    out.set(f.name, total);
  }
  return out;
}

/**
 * A small, generic workload touching what the shipped programs watch: loopback
 * TCP connections (timers, accept, socket states), file writes with fsync and
 * reads (page cache, block layer where there is a disk), a python child (exec,
 * USDT, malloc), and some sleeping (scheduler). Resolves with a function that
 * closes the listener: the caller collects first, since a closed listener's port
 * leaves accept-latency's maps.
 */
async function workload(dir: string): Promise<() => Promise<unknown>> {
  const server = createServer((s) => s.on('data', (d) => s.end(d)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  for (let i = 0; i < 10; i++) {
    const c = connect(port, '127.0.0.1');
    await new Promise((r) => c.once('connect', r));
    c.write(Buffer.alloc(64, i));
    await new Promise((r) => c.once('data', r));
    c.destroy();
  }
  const file = join(dir, 'data');
  writeFileSync(file, Buffer.alloc(1 << 20, 7));
  const fd = openSync(file, 'r+');
  fsyncSync(fd);
  closeSync(fd);
  spawnSync('/usr/bin/python3', ['-c', 'import os\nfor _ in range(100): os.getppid()\nsum(range(1000))'], {
    stdio: 'ignore',
  });
  await new Promise((r) => setTimeout(r, 200));
  return () => new Promise((r) => server.close(r));
}

export async function reportProgram(name: string, dir: string): Promise<ProgramReport> {
  const kernel = release();
  const t0 = Date.now();
  const base = { type: 'program' as const, kernel, program: name };
  let sets: string[] = [];
  let receiver: EbpfReceiver | undefined;
  try {
    sets = declaredSets(name);
    receiver = (await ebpfReceiverFactory.create(
      { id: `ebpf/${name}`, logger, configDir: repoRoot },
      configSchema.parse({ program: name }),
    )) as EbpfReceiver;
    let last: MetricBatch | undefined;
    const sub = receiver.output$.subscribe((b) => (last = b));
    try {
      await receiver.start(host);
      await receiver.collectNow();
      const before = totals(last);
      const closeListener = await workload(dir);
      try {
        await receiver.collectNow();
      } finally {
        await closeListener();
      }
      const after = totals(last);
      const metrics = Object.fromEntries([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]));
      const chosen = receiver.attempts.find((a) => a.ok);
      const reasons = receiver.attempts.flatMap((a) =>
        a.ok
          ? a.attached
              .filter((r) => !r.attached)
              .map((r) => ({ hook: a.hook || 'default', reason: `${r.program}: ${r.error ?? 'failed'}` }))
          : [{ hook: a.hook || 'default', reason: a.reason ?? 'failed', log: lastLines(a.details) }],
      );
      const noPmu = !chosen && reasons.length > 0 && reasons.every((x) => /no hardware PMU/.test(x.reason));
      return {
        ...base,
        ...(noPmu ? { unavailable: 'no hardware PMU' } : {}),
        sets,
        hook: chosen ? chosen.hook || 'default' : 'none',
        attached: chosen?.attached.filter((r) => r.attached).length ?? 0,
        programs: chosen?.programs.length ?? 0,
        reasons,
        events: Object.values(metrics).reduce((s, v) => s + v, 0),
        metrics,
        ms: Date.now() - t0,
      };
    } finally {
      sub.unsubscribe();
    }
  } catch (err) {
    return {
      ...base,
      sets,
      hook: 'none',
      attached: 0,
      programs: 0,
      reasons: [],
      events: 0,
      metrics: {},
      error: messageOf(err),
      ms: Date.now() - t0,
    };
  } finally {
    await receiver?.shutdown();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { programs: { type: 'string' }, human: { type: 'boolean', default: false } },
  });
  const only = values.programs?.split(',').filter(Boolean);
  const emit = (o: object): void => console.log(`KMX_JSON ${JSON.stringify(o)}`);
  emit({ type: 'kernel', release: release(), hooks: [...supportedHooks()].sort() });
  const dir = mkdtempSync(join(tmpdir(), 'kmx-load-'));
  let failed = 0;
  try {
    for (const { name, built } of shippedPrograms()) {
      if (only && !only.includes(name)) continue;
      if (!built) {
        emit({ type: 'program', kernel: release(), program: name, hook: 'none', error: 'not built' });
        failed++;
        continue;
      }
      const r = await reportProgram(name, dir);
      if (r.hook === 'none' && r.unavailable === undefined) failed++;
      emit(r);
      if (values.human) {
        const why = r.reasons.map((x) => `${x.hook}: ${x.reason}`).join('; ');
        console.error(
          `${name}: ${r.hook} ${r.attached}/${r.programs} attached, ${r.events} events${r.error ? `, ${r.error}` : ''}${why ? ` (${why})` : ''}`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.exitCode = failed > 0 ? 1 : 0;
}

if (import.meta.main) await main();
