import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError } from './decoder.ts';
import { syscallDecoder } from './syscall.ts';

const spec = { name: 'syscall' };

test('syscall: x86_64 and arm64 tables chosen by option', () => {
  const x86 = syscallDecoder({ arch: 'x86_64' });
  assert.equal(x86.decode('0', spec), 'read');
  assert.equal(x86.decode('59', spec), 'execve');
  assert.equal(x86.decode('100000', spec), 'unknown_syscall:100000');
  const arm = syscallDecoder({ arch: 'arm64' });
  assert.equal(arm.decode('63', spec), 'read');
  assert.equal(arm.decode('221', spec), 'execve');
  assert.equal(arm.decode('1079', spec), 'unknown_syscall:1079');
});

test('syscall: default table follows process.arch', () => {
  const d = syscallDecoder();
  assert.equal(d.decode('0', spec), process.arch === 'arm64' ? 'io_setup' : 'read');
});

test('syscall: Atoi semantics — sign allowed, negative wraps as uint64 like ebpf_exporter', () => {
  const d = syscallDecoder({ arch: 'x86_64' });
  assert.equal(d.decode('+1', spec), 'write');
  assert.equal(d.decode('-1', spec), 'unknown_syscall:18446744073709551615');
});

test('syscall: malformed input is a DecodeError', () => {
  const d = syscallDecoder({ arch: 'x86_64' });
  for (const bad of ['', 'read', '1e3', '9223372036854775808', '0x10']) {
    assert.throws(() => d.decode(bad, spec), DecodeError, JSON.stringify(bad));
  }
});

test('syscall: a given table overrides the generated one', () => {
  const d = syscallDecoder({ names: { '7': 'poll_time64' } });
  assert.equal(d.decode('7', spec), 'poll_time64');
  assert.equal(d.decode('8', spec), 'unknown_syscall:8');
});
