/**
 * The agent helper: a start that fails or times out ends the child before the
 * promise rejects (a left-over child would keep the test file from exiting), and
 * EBPF_COLLECTOR_TEST_START_TIMEOUT_MS only ever raises the start timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { startAgentWith, startTimeoutMs } from './agent.ts';

/** PIDs whose parent is this process. */
function children(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

test('a start timeout kills the agent child before rejecting', async () => {
  // The kernel matrix raises the timeout through the environment: not here.
  const saved = process.env['EBPF_COLLECTOR_TEST_START_TIMEOUT_MS'];
  delete process.env['EBPF_COLLECTOR_TEST_START_TIMEOUT_MS'];
  const before = children();
  try {
    await assert.rejects(
      startAgentWith(['run', '--config', '/nonexistent/agent.yaml'], {}, 1),
      /agent did not start in 1 ms/,
    );
  } finally {
    if (saved !== undefined) process.env['EBPF_COLLECTOR_TEST_START_TIMEOUT_MS'] = saved;
  }
  assert.deepEqual(children(), before, 'no child left running');
});

test('EBPF_COLLECTOR_TEST_START_TIMEOUT_MS raises the start timeout, never lowers it', () => {
  const saved = process.env['EBPF_COLLECTOR_TEST_START_TIMEOUT_MS'];
  try {
    delete process.env['EBPF_COLLECTOR_TEST_START_TIMEOUT_MS'];
    assert.equal(startTimeoutMs(30_000), 30_000);
    process.env['EBPF_COLLECTOR_TEST_START_TIMEOUT_MS'] = '240000';
    assert.equal(startTimeoutMs(30_000), 240_000);
    process.env['EBPF_COLLECTOR_TEST_START_TIMEOUT_MS'] = '5000';
    assert.equal(startTimeoutMs(30_000), 30_000);
    process.env['EBPF_COLLECTOR_TEST_START_TIMEOUT_MS'] = 'soon';
    assert.equal(startTimeoutMs(30_000), 30_000);
  } finally {
    if (saved === undefined) delete process.env['EBPF_COLLECTOR_TEST_START_TIMEOUT_MS'];
    else process.env['EBPF_COLLECTOR_TEST_START_TIMEOUT_MS'] = saved;
  }
});
