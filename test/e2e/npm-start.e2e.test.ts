/**
 * `npm start` leaves no orphan: a SIGTERM to the npm process reaches the agent, which
 * detaches everything and exits 0; during set-up it ends the set-up's whole process tree
 * and the agent never starts. The README's command, run as a user runs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { repoRoot } from '../helpers/agent.ts';
import { programIdsHeldBy, waitForRelease } from '../helpers/bpf-programs.ts';

const BOUND_MS = 60_000;
const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
  } catch {
    return [];
  }
}

function descendantsOf(pid: number): number[] {
  return childrenOf(pid).flatMap((c) => [c, ...descendantsOf(c)]);
}

function alive(pid: number): boolean {
  try {
    // A zombie is dead: only its entry is left until its parent reaps it.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

const commOf = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
};

function npmStart(): { pid: number; log: () => string; exited: Promise<number | string> } {
  const child = spawn('npm', ['start'], {
    cwd: repoRoot,
    env: { ...process.env, EBPF_COLLECTOR_LISTEN: '127.0.0.1:0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr.on('data', (c: Buffer) => (log += c.toString()));
  const exited = new Promise<number | string>((r) =>
    child.once('exit', (code, signal) => r(code ?? signal ?? -1)),
  );
  return { pid: child.pid as number, log: () => log, exited };
}

async function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    p,
    new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(what)), BOUND_MS))),
  ]);
  clearTimeout(timer);
  return r;
}

/** The pids of `pids` still alive after `boundMs`. */
async function waitGone(pids: number[], boundMs: number): Promise<number[]> {
  const t0 = Date.now();
  while (pids.some(alive) && Date.now() - t0 < boundMs) await tick(20);
  return pids.filter(alive);
}

/** After a failed assertion: end whatever the run left, so the test process can exit. */
function cleanUp(pids: number[]): void {
  for (const p of pids.filter(alive)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

const isSetup = (pid: number): boolean => /^bash scripts\/setup\.sh/.test(commOf(pid));

test('npm start: SIGTERM to npm stops the agent (exit 0, every program detached), no process left', async () => {
  const run = npmStart();
  let tree: number[] = [];
  try {
    const t0 = Date.now();
    while (!/"msg":"agent started"/.test(run.log()) && Date.now() - t0 < BOUND_MS) await tick(50);
    assert.match(run.log(), /"msg":"agent started"/);
    tree = descendantsOf(run.pid);
    // npm → the init (its script's shells exec'd away) → the agent: no shell in between.
    const [init, ...rest] = childrenOf(run.pid);
    assert.equal(rest.length, 0, `npm has more than one child: ${tree.map(commOf).join(' | ')}`);
    assert.match(commOf(init as number), /ebpf-collector-init/, tree.map(commOf).join(' | '));
    const agents = childrenOf(init as number);
    assert.equal(agents.length, 1);
    assert.match(
      commOf(agents[0] as number),
      /bin\/ebpf-collector\.js run --config pipelines\/default\.yaml/,
    );
    const held = programIdsHeldBy(agents[0] as number);
    assert.ok(held.length > 0, 'the agent holds no programs');

    process.kill(run.pid, 'SIGTERM');
    const code = await within(run.exited, `npm did not exit:\n${run.log()}`);
    assert.match(run.log(), /"msg":"stopped: every program detached"/);
    assert.equal(code, 0, run.log());
    assert.deepEqual(await waitGone(tree, 5_000), [], `left running after npm exited:\n${run.log()}`);
    await waitForRelease(held);
  } finally {
    cleanUp([run.pid, ...tree, ...descendantsOf(run.pid)]);
  }
});

test('npm start: SIGTERM to npm during set-up ends the set-up tree at once; the agent never starts', async () => {
  const run = npmStart();
  let tree: number[] = [];
  try {
    // Signal as soon as the set-up script runs (a second or more of work left when nothing is missing).
    const t0 = Date.now();
    while (!tree.some(isSetup) && Date.now() - t0 < BOUND_MS) {
      await tick(2);
      tree = descendantsOf(run.pid);
    }
    assert.ok(tree.some(isSetup), `set-up never ran:\n${run.log()}`);
    process.kill(run.pid, 'SIGTERM');
    const code = await within(run.exited, `npm did not exit:\n${run.log()}`);
    assert.notEqual(code, 0, 'a set-up cut short is not a success');
    const left = await waitGone([...tree, ...descendantsOf(run.pid)], 1_000);
    assert.deepEqual(left.map(commOf), [], `the set-up went on after npm exited:\n${run.log()}`);
    assert.doesNotMatch(run.log(), /agent started/);
  } finally {
    cleanUp([run.pid, ...tree, ...descendantsOf(run.pid)]);
  }
});
