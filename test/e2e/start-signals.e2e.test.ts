/**
 * A SIGTERM or SIGINT at any moment of start ends the agent with exit 0 and every
 * program it loaded released. The agent runs the default pipeline (14 receivers, a
 * start of a second or more here); the signal goes at points from 0 to 2 s after spawn,
 * and right after the first program attached (found in the log).
 *
 * Before Node runs the entry's first line (its bootstrap, ~50 ms) only Node's own
 * handler exists, which re-raises the signal with the default action: a normal process
 * dies of it (143), and PID 1 of a namespace ignores it (the kernel's rule). The entry's
 * handler is seen in /proc as SIGHUP caught (Node itself never catches SIGHUP): the test
 * accepts death by the signal only when it was not caught at the moment it was sent, and
 * the PID 1 cases without an init send once it is.
 *
 * Behind the init (native/init.c: the image's entrypoint and `npm start`'s last exec) there
 * is no such window: the signal goes from the init's first instant (once it forked the agent)
 * and the agent still ends with exit 0, as PID 1 of a namespace and not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/agent.ts';
import { INIT_PATH } from '../helpers/init.ts';
import { programIdsHeldBy, waitForRelease } from '../helpers/bpf-programs.ts';

const CONFIG = join(repoRoot, 'pipelines', 'default.yaml');
/** How long the agent may take to exit after the signal (its own force-exit is 20 s). */
const EXIT_BOUND_MS = 30_000;

const SIGHUP = 1;

/** Whether `pid` has a handler for `signal` (bit signal-1 of SigCgt). */
function catches(pid: number, signal: number): boolean {
  try {
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << BigInt(signal - 1))) !== 0n;
  } catch {
    return false;
  }
}

/**
 * How the agent runs: `node bin/…` itself, as PID 1 of a new PID namespace, or behind the
 * init (as PID 1, as in the image, or not, as under `npm start`).
 */
type Mode = 'direct' | 'pid1' | 'init' | 'pid1-init';

interface Run {
  child: ChildProcess;
  log: () => string;
  exited: Promise<number | string>;
}

function spawnAgent(mode: Mode): Run {
  const node = [process.execPath, join(repoRoot, 'bin', 'ebpf-collector.js'), 'run', '--config', CONFIG];
  const init = mode === 'init' || mode === 'pid1-init';
  if (init && !existsSync(INIT_PATH)) throw new Error(`${INIT_PATH} is missing: run scripts/setup.sh`);
  const agent = init ? [INIT_PATH, ...node] : node;
  const cmd =
    mode === 'pid1' || mode === 'pid1-init'
      ? ['unshare', '--pid', '--fork', '--mount-proc', ...agent]
      : agent;
  const child = spawn(cmd[0] as string, cmd.slice(1), {
    cwd: repoRoot,
    env: { ...process.env, EBPF_COLLECTOR_LISTEN: '127.0.0.1:0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return { child, log: () => log, exited };
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The only child of `parent` (polled until it exists; fails at once when `parent` is gone). */
async function childOf(parent: number, log: () => string): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < EXIT_BOUND_MS) {
    try {
      const out = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim();
      if (out) return Number(out.split(' ')[0]);
    } catch {
      throw new Error(`${parent} exited before it started a child:\n${log()}`);
    }
    await tick(1);
  }
  throw new Error(`${parent} started no child in ${EXIT_BOUND_MS} ms:\n${log()}`);
}

/**
 * The process a stop signal goes to (the container's PID 1, or the process npm signals)
 * and the agent's pid. The init forks the agent once its signals are blocked (while it
 * waits in sigtimedwait /proc shows them unblocked), so it is signalled from then on.
 */
async function targets(run: Run, mode: Mode): Promise<{ signalled: number; agent: number }> {
  const pid1 = mode === 'pid1' || mode === 'pid1-init';
  const top = pid1 ? await childOf(run.child.pid as number, run.log) : (run.child.pid as number);
  if (mode === 'direct' || mode === 'pid1') return { signalled: top, agent: top };
  return { signalled: top, agent: await childOf(top, run.log) };
}

type When = { afterMs: number } | 'first-attach';

async function signalDuringStart(when: When, signal: 'SIGTERM' | 'SIGINT', mode: Mode): Promise<void> {
  const run = spawnAgent(mode);
  const { signalled, agent: pid } = await targets(run, mode);
  // Every program the agent holds at any poll, until it exits.
  const held = new Set<number>();
  let done = false;
  void run.exited.then(() => (done = true));
  const watch = (async () => {
    while (!done) {
      for (const id of programIdsHeldBy(pid)) held.add(id);
      await tick(5);
    }
  })();
  const t0 = Date.now();
  if (mode === 'pid1') {
    // PID 1 ignores a signal it has no handler for: wait for the entry's handler.
    while (!catches(pid, SIGHUP) && Date.now() - t0 < EXIT_BOUND_MS) await tick(1);
  }
  if (when === 'first-attach') {
    while (!/program \S+ attached/.test(run.log()) && !done && Date.now() - t0 < EXIT_BOUND_MS) await tick(2);
    assert.ok(!done, `agent exited before any program attached:\n${run.log()}`);
  } else {
    await tick(when.afterMs);
  }
  const caught = catches(pid, SIGHUP);
  process.kill(signalled, signal);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    run.exited,
    new Promise<string>((r) => (timer = setTimeout(() => r('no exit'), EXIT_BOUND_MS))),
  ]);
  clearTimeout(timer);
  if (code === 'no exit') run.child.kill('SIGKILL');
  done = true;
  await watch;
  const expected = caught || mode !== 'direct' ? 0 : signal;
  assert.equal(code, expected, `handler installed: ${caught}\n${run.log()}`);
  await waitForRelease(held);
}

const POINTS = Array.from({ length: 15 }, (_, i) => Math.round((i * 2000) / 14));

for (const ms of POINTS) {
  test(`SIGTERM ${ms} ms after spawn: exit 0 (or killed before Node's first line), every program released`, () =>
    signalDuringStart({ afterMs: ms }, 'SIGTERM', 'direct'));
}
for (let i = 0; i < 3; i++) {
  test(`SIGTERM right after the first program attached (${i + 1}/3): exit 0, every program released`, () =>
    signalDuringStart('first-attach', 'SIGTERM', 'direct'));
}
test('SIGINT right after the first program attached: exit 0, every program released', () =>
  signalDuringStart('first-attach', 'SIGINT', 'direct'));
for (const ms of [0, 800]) {
  test(`as PID 1 without the init, SIGTERM ${ms} ms after its handler exists: exit 0, every program released`, () =>
    signalDuringStart({ afterMs: ms }, 'SIGTERM', 'pid1'));
}
for (const ms of POINTS) {
  test(`as PID 1 behind the init (the image), SIGTERM ${ms} ms after the init's start: exit 0, every program released`, () =>
    signalDuringStart({ afterMs: ms }, 'SIGTERM', 'pid1-init'));
}
test('as PID 1 behind the init, SIGTERM right after the first program attached: exit 0, every program released', () =>
  signalDuringStart('first-attach', 'SIGTERM', 'pid1-init'));
for (const ms of [0, 10, 30, 60]) {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`behind the init, not PID 1 (npm start), ${signal} ${ms} ms after the init's start: exit 0`, () =>
      signalDuringStart({ afterMs: ms }, signal, 'init'));
  }
}

test('SIGHUP reloads an unchanged config keeping every program; SIGTERM then stops it with exit 0', async () => {
  const run = spawnAgent('direct');
  const pid = run.child.pid as number;
  const t0 = Date.now();
  while (!/"msg":"agent started"/.test(run.log()) && Date.now() - t0 < EXIT_BOUND_MS) await tick(20);
  assert.match(run.log(), /"msg":"agent started"/);
  const held = programIdsHeldBy(pid);
  assert.ok(held.length > 0, 'the agent holds no programs');
  process.kill(pid, 'SIGHUP');
  while (!/config reloaded/.test(run.log()) && Date.now() - t0 < 2 * EXIT_BOUND_MS) await tick(20);
  assert.match(run.log(), /config reloaded: \d+ components kept, 0 started, 0 stopped/);
  assert.equal(run.child.exitCode, null, 'the agent exited on SIGHUP');
  assert.deepEqual(programIdsHeldBy(pid).sort(), [...held].sort(), 'the same programs, none reloaded');
  process.kill(pid, 'SIGTERM');
  assert.equal(await run.exited, 0, run.log());
  await waitForRelease(held);
});
