import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { httpGet, repoRoot } from '../helpers/agent.ts';
import { isOneOf, programIdsHeldBy, programNames, waitForRelease } from '../helpers/bpf-programs.ts';

const OUR_PROGRAMS = ['tp_btf__timer_start', 'tracepoint__timer_start'];

test('as PID 1 of its own PID namespace (as in a container), SIGTERM detaches everything and exits 0', async () => {
  // unshare --fork makes the agent PID 1 of a new namespace; Node ignores SIGTERM there unless handled.
  const child = spawn(
    'unshare',
    [
      '--pid',
      '--fork',
      '--mount-proc',
      process.execPath,
      join(repoRoot, 'bin', 'ebpf-collector.js'),
      'run',
      '--config',
      join(repoRoot, 'pipelines', 'timers.yaml'),
    ],
    {
      cwd: repoRoot,
      env: { ...process.env, EBPF_COLLECTOR_LISTEN: '127.0.0.1:0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let log = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start line:\n${log}`)), 30_000);
    child.stderr.on('data', (c: Buffer) => {
      log += c.toString();
      const m = /"msg":"agent started"/.test(log) && /"metrics":"http:\/\/[^:]+:(\d+)\//.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  assert.equal((await httpGet(port, '/healthz')).status, 200);
  // The agent is the only child of unshare; in its namespace it is PID 1.
  const agentPid = Number(
    execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')[0],
  );
  const nspid = execFileSync('grep', ['^NSpid', `/proc/${agentPid}/status`], { encoding: 'utf8' });
  assert.match(nspid, /\s1\s*$/, `not PID 1 in its namespace: ${nspid}`);
  // What the agent holds (others on this machine may run the same programs).
  const held = programIdsHeldBy(agentPid);
  assert.ok(
    programNames(held).some((n) => isOneOf(n, OUR_PROGRAMS)),
    `the agent holds none of our programs: ${held.join(',')}`,
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  process.kill(agentPid, 'SIGTERM');
  assert.equal(await exited, 0, log);
  assert.match(log, /stopped: every program detached/);
  await waitForRelease(held);
});
