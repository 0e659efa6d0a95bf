import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { pino } from 'pino';
import type { Receiver } from '../../src/pipeline/component.ts';
import type { HistogramPoint, MetricBatch, MetricFamily, ScalarPoint } from '../../src/pipeline/data.ts';
import { assemble } from '../../src/pipeline/assemble.ts';
import { SelfTelemetry } from '../../src/pipeline/telemetry.ts';
import { ebpfReceiverFactory } from '../../src/receivers/ebpf/factory.ts';
import { configSchema } from '../../src/receivers/ebpf/config.ts';
import type { EbpfReceiver } from '../../src/receivers/ebpf/receiver.ts';
import { repoRoot } from './agent.ts';
import { PYTHON, spawnInCgroup } from './cgroup-child.ts';
import { testHost } from './host.ts';

export { PYTHON };

/** One program of bpf/ loaded through the real ebpf receiver, read on demand. */
export interface ProgramRun {
  readonly receiver: EbpfReceiver;
  readonly telemetry: SelfTelemetry;
  /** collectNow, then the assembled families of that read. */
  collect(): Promise<MetricFamily[]>;
  close(): Promise<void>;
}

export async function startProgram(
  program: string,
  options: { hooks?: string[]; globals?: Record<string, number> } = {},
): Promise<ProgramRun> {
  const logger = pino({ level: 'silent' });
  const telemetry = new SelfTelemetry();
  const host = testHost({ logger, telemetry });
  const receiver = (await ebpfReceiverFactory.create(
    { id: `ebpf/${program}`, logger, configDir: repoRoot },
    configSchema.parse({
      program,
      ...(options.hooks ? { hooks: options.hooks } : {}),
      ...(options.globals ? { globals: options.globals } : {}),
    }),
  )) as EbpfReceiver;
  let last: MetricFamily[] = [];
  const sub = receiver.output$.subscribe((b: MetricBatch) => (last = assemble(b.families)));
  try {
    await receiver.start(host);
  } catch (err) {
    sub.unsubscribe();
    await receiver.shutdown();
    throw err;
  }
  return {
    receiver,
    telemetry,
    collect: async () => {
      await receiver.collectNow();
      return last;
    },
    close: async () => {
      sub.unsubscribe();
      await receiver.shutdown();
    },
  };
}

/** Poll a receiver now: the batch it emits (as read, before any processor). */
export async function batchOnce(r: Receiver): Promise<MetricBatch> {
  let last: MetricBatch | undefined;
  const sub = r.output$.subscribe((b) => (last = b));
  await r.collectNow();
  sub.unsubscribe();
  assert.ok(last, 'no batch emitted');
  return last;
}

/** Poll a receiver now: the assembled families of the batch it emits. */
export async function collectOnce(r: Receiver): Promise<MetricFamily[]> {
  return assemble((await batchOnce(r)).families);
}

export function histogramPoints(families: readonly MetricFamily[], name: string): HistogramPoint[] {
  const f = families.find((x) => x.name === name);
  if (f && f.kind !== 'histogram') throw new Error(`${name} is a ${f.kind}, not a histogram`);
  return f ? [...f.points] : [];
}

/** The value of an unlabelled counter or gauge; undefined when the family is not exported. */
export function scalarValue(families: readonly MetricFamily[], name: string): number | undefined {
  const f = families.find((x) => x.name === name);
  if (!f) return undefined;
  if (f.kind === 'histogram') throw new Error(`${name} is a histogram`);
  return f.points[0]?.value ?? 0;
}

/** The point whose labels include all of `labels`. */
export function pointWith(
  points: readonly HistogramPoint[],
  labels: Record<string, string>,
): HistogramPoint | undefined {
  return points.find((p) => Object.entries(labels).every(([k, v]) => p.labels[k] === v));
}

/** Per-bucket growth (non-cumulative counts, +Inf last) from `before` to `after`. */
export function bucketGrowth(
  before: HistogramPoint | undefined,
  after: HistogramPoint | undefined,
): number[] {
  if (!after) return [];
  return after.counts.map((c, i) => c - (before?.counts[i] ?? 0));
}

export interface AttachedPoint {
  readonly program: string;
  readonly hook: string;
  readonly reason: string;
  readonly value: number;
}

/**
 * `program_attached` points (exposed as ebpf_collector_program_attached) of the receiver's
 * self-telemetry, or with `family` 'program_hook_rejected' the rejected sets' points.
 */
export function attachedPoints(
  telemetry: SelfTelemetry,
  family: 'program_attached' | 'program_hook_rejected' = 'program_attached',
): AttachedPoint[] {
  const fam = telemetry.snapshot().find((f) => f.name === family);
  return ((fam?.points ?? []) as ScalarPoint[]).map((p) => ({
    program: String(p.labels['program']),
    hook: String(p.labels['hook']),
    reason: String(p.labels['reason']),
    value: p.value,
  }));
}

/**
 * The receiver chose `expected`, and every set preferred over it was tried,
 * failed with a reason, and is reported as rejected (with that reason) in
 * `program_hook_rejected`, not in `program_attached`; the chosen set's programs
 * are reported attached.
 */
export function assertHookChoice(run: ProgramRun, preference: readonly string[], expected: string): void {
  assert.equal(run.receiver.hook, expected);
  const points = attachedPoints(run.telemetry);
  const rejected = attachedPoints(run.telemetry, 'program_hook_rejected');
  for (const hook of preference.slice(0, preference.indexOf(expected))) {
    const attempt = run.receiver.attempts.find((a) => a.hook === hook);
    assert.ok(attempt, `set ${hook} was tried before ${expected}`);
    assert.equal(attempt.ok, false);
    assert.ok(attempt.reason && attempt.reason.length > 0, `set ${hook} failed with a reason`);
    const reported = rejected.filter((p) => p.hook === hook);
    assert.ok(reported.length > 0, `set ${hook} is reported in program_hook_rejected`);
    for (const p of reported) {
      assert.equal(p.value, 1, `${p.program} via ${hook} is reported rejected`);
      assert.notEqual(p.reason, 'ok');
    }
    assert.deepEqual(
      points.filter((p) => p.hook === hook),
      [],
      `rejected set ${hook} is not in program_attached`,
    );
  }
  const chosen = points.filter((p) => p.hook === expected);
  assert.ok(chosen.length > 0, `set ${expected} is reported`);
  for (const p of chosen) assert.deepEqual([p.value, p.reason], [1, 'ok'], `${p.program} attached`);
}

/**
 * Run a Python script as a child; resolves with its stdout lines. Rejects on a
 * non-zero exit (with its stderr) or after `timeoutMs` (the child is killed).
 */
export function runPython(
  script: string,
  args: readonly string[] = [],
  timeoutMs = 60_000,
): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.split('\n').filter((l) => l !== ''));
      else reject(new Error(`python exited ${code ?? signal}: ${err.trim()}`));
    });
  });
}

/** A loopback TCP port free right now (for a child to bind with SO_REUSEADDR). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * A Python child in cgroup2 directory `dir` forks and execs /bin/true `n` times, one after the
 * other. Resolves to the child's pid (the parent of every exec) when it exited 0.
 */
export async function execsInCgroup(dir: string, n: number): Promise<number> {
  const runner = [
    'import os, sys',
    'sys.stdin.read(1)',
    'for i in range(int(sys.argv[1])):',
    '    pid = os.fork()',
    '    if pid == 0:',
    '        os.execv("/bin/true", ["true"])',
    '    os.waitpid(pid, 0)',
  ].join('\n');
  const child = await spawnInCgroup(dir, ['-c', runner, String(n)]);
  await child.release();
  return child.pid;
}
