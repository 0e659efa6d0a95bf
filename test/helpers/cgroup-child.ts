/**
 * A Python child whose work is done inside a cgroup: spawned blocked on a stdin read (one
 * byte, or a cue line), moved into the cgroup (`cgroup.procs`), then released. The one way the
 * tests run a workload in a cgroup they made.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Debian's Python (bare `python3` may be a pyenv shim). */
export const PYTHON = '/usr/bin/python3';

export interface CgroupChild {
  readonly pid: number;
  /** Writes to the child's stdin (a cue its script waits for). */
  send(text: string): void;
  /** Lets the child go on (one byte on stdin) and waits for it: it must exit 0. */
  release(): Promise<void>;
  /** Closes its stdin and waits for it to end however it ends (an OOM kill): how, and its output. */
  finish(): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }>;
}

/**
 * Spawns `python3 …args` (a script that first reads stdin) and moves it into `cgroup` before
 * it goes on; on a failure the child is killed and reaped.
 */
export async function spawnInCgroup(cgroup: string, args: readonly string[]): Promise<CgroupChild> {
  const child = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    writeFileSync(join(cgroup, 'cgroup.procs'), String(child.pid));
  } catch (err) {
    child.kill('SIGKILL');
    await exited.catch(() => {});
    throw err;
  }
  return {
    pid: child.pid as number,
    send: (text) => child.stdin.write(text),
    release: async () => {
      child.stdin.end('x');
      assert.equal((await exited).code, 0, `python in ${cgroup}: ${stderr}`);
    },
    finish: async () => {
      child.stdin.end();
      return { ...(await exited), stdout };
    },
  };
}

/** Runs `script` (which reads one byte of stdin first) with the rest of it inside `cgroup`. */
export async function runInCgroup(cgroup: string, script: string, ...args: string[]): Promise<void> {
  await (await spawnInCgroup(cgroup, ['-c', script, ...args])).release();
}
