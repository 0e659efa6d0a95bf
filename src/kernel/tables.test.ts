import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTables, loadTables, syscallArchOf } from './tables.ts';

test('errno table from the system headers: every number 1..133 but 41 and 58, Go x/sys names for aliases', () => {
  const { errno } = generateTables();
  const names = errno.names;
  assert.equal(Object.keys(names).length, 131);
  assert.equal(names['1'], 'EPERM');
  assert.equal(names['32'], 'EPIPE');
  assert.equal(names['104'], 'ECONNRESET');
  assert.equal(names['11'], 'EAGAIN', 'not EWOULDBLOCK');
  assert.equal(names['35'], 'EDEADLK', 'not EDEADLOCK');
  assert.equal(names['95'], 'ENOTSUP', 'not EOPNOTSUPP (glibc bits/errno.h adds ENOTSUP)');
  assert.equal(names['133'], 'EHWPOISON');
  assert.equal(names['41'], undefined);
  assert.equal(names['58'], undefined);
  assert.equal(names['512'], undefined, 'kernel-internal ERESTARTSYS is not uapi');
});

test('syscall tables: x86_64 from unistd_64.h, arm64 from asm-generic/unistd.h', () => {
  const { syscalls } = generateTables();
  const x86 = syscalls.x86_64?.names;
  const arm = syscalls.arm64?.names;
  assert.ok(x86 && arm);
  assert.equal(x86['0'], 'read');
  assert.equal(x86['1'], 'write');
  assert.equal(x86['59'], 'execve');
  assert.equal(x86['231'], 'exit_group');
  assert.equal(x86['257'], 'openat');
  assert.equal(x86['435'], 'clone3');
  assert.equal(arm['0'], 'io_setup');
  assert.equal(arm['25'], 'fcntl', '__NR3264_ alias resolved for 64-bit');
  assert.equal(arm['38'], 'renameat', '__ARCH_WANT_RENAMEAT');
  assert.equal(arm['56'], 'openat');
  assert.equal(arm['63'], 'read');
  assert.equal(arm['79'], 'newfstatat', '__ARCH_WANT_NEW_STAT');
  assert.equal(arm['163'], 'getrlimit', '__ARCH_WANT_SET_GET_RLIMIT');
  assert.equal(arm['221'], 'execve');
  assert.equal(arm['435'], 'clone3');
  assert.equal(arm['447'], 'memfd_secret');
  assert.equal(arm['244'], undefined, '__NR_arch_specific_syscall is not a syscall');
  assert.equal(arm['1079'], undefined, 'the 32-bit-only fcntl64 alias is not in the 64-bit table');
  assert.equal(Object.values(arm).includes('syscalls'), false);
});

test('loadTables generates and writes the files when they are missing, then reads them', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'tables-')), 'build', 'tables');
  try {
    const first = loadTables({ dir });
    assert.ok(existsSync(join(dir, 'errno.json')) && existsSync(join(dir, 'syscalls.json')));
    const onDisk = JSON.parse(readFileSync(join(dir, 'errno.json'), 'utf8')) as { names: unknown };
    assert.deepEqual(onDisk.names, first.errno.names);
    assert.equal(loadTables({ dir }), first, 'read once per directory');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('missing headers: a clear error naming the Debian package', () => {
  const dir = mkdtempSync(join(tmpdir(), 'noheaders-'));
  assert.throws(
    () => generateTables({ include: dir }),
    /errno-base\.h is missing: install the Debian package linux-libc-dev/,
  );
  assert.throws(() => loadTables({ dir: join(dir, 'out'), headers: { include: dir } }), /linux-libc-dev/);
});

test('syscallArchOf maps Node arch names', () => {
  assert.equal(syscallArchOf('x64'), 'x86_64');
  assert.equal(syscallArchOf('arm64'), 'arm64');
  assert.equal(syscallArchOf('riscv64'), undefined);
});
