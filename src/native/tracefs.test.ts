import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readMounts } from './tracefs.ts';

describe('readMounts', () => {
  it('parses mountinfo lines, optional fields and escaped mount points', () => {
    const text = [
      '22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw',
      '41 22 0:13 / /sys/kernel/tracing rw,relatime - tracefs tracefs rw',
      '50 22 0:40 / /mnt/with\\040space rw shared:1 master:2 - tmpfs tmpfs rw',
      '',
    ].join('\n');
    assert.deepEqual(readMounts(text), [
      { mountPoint: '/sys', fsType: 'sysfs' },
      { mountPoint: '/sys/kernel/tracing', fsType: 'tracefs' },
      { mountPoint: '/mnt/with space', fsType: 'tmpfs' },
    ]);
  });
});
