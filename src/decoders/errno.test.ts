import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecodeError } from './decoder.ts';
import { errnoDecoder } from './errno.ts';

const spec = { name: 'errno' };

test('errno: the cases of ebpf_exporter decoder/errno_test.go', () => {
  const d = errnoDecoder();
  assert.equal(d.decode('0', spec), 'unknown:0');
  assert.equal(d.decode('1', spec), 'EPERM');
  assert.equal(d.decode('32', spec), 'EPIPE');
  assert.equal(d.decode('104', spec), 'ECONNRESET');
  assert.equal(d.decode('1000', spec), 'unknown:1000');
});

test('errno: aliases by Go name, leading zeros, u64 range', () => {
  const d = errnoDecoder();
  assert.equal(d.decode('11', spec), 'EAGAIN');
  assert.equal(d.decode('35', spec), 'EDEADLK');
  assert.equal(d.decode('95', spec), 'ENOTSUP');
  assert.equal(d.decode('007', spec), 'E2BIG');
  assert.equal(d.decode('18446744073709551615', spec), 'unknown:18446744073709551615');
});

test('errno: malformed input is a DecodeError', () => {
  const d = errnoDecoder();
  for (const bad of ['', 'x', '-1', '+1', '1.5', ' 1', '18446744073709551616']) {
    assert.throws(() => d.decode(bad, spec), DecodeError, JSON.stringify(bad));
  }
  assert.throws(() => d.decode(new Uint8Array([1, 0, 0, 0]), spec), DecodeError, 'raw bytes (forgot uint)');
});

test('errno: no headers and no table is a DecodeError, not a crash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'noheaders-'));
  const d = errnoDecoder({ dir: join(dir, 'out'), headers: { include: dir } });
  assert.throws(
    () => d.decode('1', spec),
    (err: unknown) => err instanceof DecodeError && /linux-libc-dev/.test(err.message),
  );
});
