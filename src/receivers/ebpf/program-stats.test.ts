import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { StatsSwitch } from './program-stats.ts';

const SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

function openSysctlFds(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === SYSCTL) n++;
    } catch {
      // the directory's own fd, gone by now
    }
  }
  return n;
}

test('StatsSwitch follows kernel.bpf_stats_enabled as it is switched, through one open file', () => {
  const saved = readFileSync(SYSCTL, 'utf8').trim();
  const s = new StatsSwitch();
  try {
    assert.equal(s.enabled(), saved === '1', 'the value the sysctl holds now');
    // Switched back and forth while the file stays open: each read sees the kernel's value.
    for (const value of ['1', '0', '1', '0']) {
      writeFileSync(SYSCTL, value);
      assert.equal(s.enabled(), value === '1', `after writing ${value}`);
      assert.equal(s.enabled(), value === '1', `read again after writing ${value}`);
    }
    assert.equal(openSysctlFds(), 1, 'one file, opened once');
  } finally {
    writeFileSync(SYSCTL, saved);
    s.close();
  }
  assert.equal(openSysctlFds(), 0, 'closed');
  s.close(); // twice is harmless
  assert.equal(s.enabled(), saved === '1', 'opened again after close');
  s.close();
  assert.equal(openSysctlFds(), 0);
});
