import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMountInfo, readMountInfo, unescapeOctal } from './mountinfo.ts';

test('mountinfo: optional fields, none or several, before the "-" separator', () => {
  const [a, b, c] = parseMountInfo(
    [
      '36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue',
      '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
      '41 30 0:38 / /x rw shared:5 master:2 propagate_from:3 - tmpfs tmpfs rw,size=10k',
      '',
    ].join('\n'),
  );
  assert.deepEqual(a, {
    mountId: 36,
    parentId: 35,
    major: 98,
    minor: 0,
    root: '/mnt1',
    mountPoint: '/mnt2',
    mountOptions: ['rw', 'noatime'],
    optionalFields: ['master:1'],
    fsType: 'ext3',
    source: '/dev/root',
    superOptions: ['rw', 'errors=continue'],
  });
  assert.deepEqual(b?.optionalFields, []);
  assert.equal(b?.fsType, 'cgroup2');
  assert.deepEqual(c?.optionalFields, ['shared:5', 'master:2', 'propagate_from:3']);
  assert.equal(c?.fsType, 'tmpfs');
});

test('mountinfo: octal escapes in paths and source', () => {
  const [m] = parseMountInfo(
    '50 1 0:40 /a\\040dir /mnt/with\\040space\\011tab\\134back rw - fuse my\\040src rw\n',
  );
  assert.equal(m?.root, '/a dir');
  assert.equal(m?.mountPoint, '/mnt/with space\ttab\\back');
  assert.equal(m?.source, 'my src');
  assert.equal(unescapeOctal('/caf\\303\\251'), '/café', 'escaped UTF-8 bytes');
  assert.equal(unescapeOctal('/no\\08escape'), '/no\\08escape', 'not three octal digits: kept');
});

test('mountinfo: a malformed line is an error with its line number', () => {
  assert.throws(() => parseMountInfo('36 35 98:0 /mnt1 /mnt2 rw\n'), /line 1/);
  assert.throws(
    () => parseMountInfo('1 1 0:1 / / rw - a b c\nx 35 98:0 / / rw - ext4 /dev/x rw\n'),
    /line 2/,
  );
});

test('mountinfo: the live file parses and has a root mount', () => {
  const mounts = readMountInfo();
  assert.ok(mounts.some((m) => m.mountPoint === '/'));
});
