/**
 * A Python child whose work is done inside a cgroup: spawned blocked on a one-byte stdin
 * read, moved into the cgroup (`cgroup.procs`), then released. The one way the real-cgroup
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
  /** Lets the child go on (one byte on stdin) and waits for it: it must exit 0. */
  release(): Promise<void>;
}

/**
 * Spawns `python3 …args` (a script that first reads one byte of stdin) and moves it into
 * `cgroup` before it goes on; on a failure the child is killed and reaped.
 */
export async function spawnInCgroup(cgroup: string, args: readonly string[]): Promise<CgroupChild> {
  const child = spawn(PYTHON, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
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
    release: async () => {
      child.stdin.end('x');
      assert.equal(await exited, 0, `python in ${cgroup}: ${stderr}`);
    },
  };
}

/** Runs `script` (which reads one byte of stdin first) with the rest of it inside `cgroup`. */
export async function runInCgroup(cgroup: string, script: string, ...args: string[]): Promise<void> {
  await (await spawnInCgroup(cgroup, ['-c', script, ...args])).release();
}
