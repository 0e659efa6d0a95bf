import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kallsyms } from '../kernel/kallsyms.ts';
import { DecodeError } from './decoder.ts';
import { kstackDecoder } from './kstack.ts';

const spec = { name: 'kstack' };
const stack = (...addrs: bigint[]): Uint8Array => {
  const b = Buffer.alloc(addrs.length * 8);
  addrs.forEach((a, i) => b.writeBigUInt64LE(a, i * 8));
  return b;
};

test('kstack: the cases of ebpf_exporter decoder/kstack_test.go (nearest symbol, no offset, ?? below all, re-read on a miss)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kstack-'));
  const file = join(dir, 'kallsyms');
  writeFileSync(file, '0000000000000004 T one\n0000000000000006 T two\n00000000000000aa T three\n');
  const ksyms = new Kallsyms({ path: file });
  appendFileSync(file, '0000000000000002 T zero\n'); // appears only after a re-read
  let now = 0;
  const d = kstackDecoder(() => ksyms, { refreshIntervalMs: 1000, now: () => now });
  assert.equal(d.decode(stack(0n, 0n), spec), '');
  assert.equal(d.decode(stack(4n, 5n, 6n, 0n), spec), 'one\none\ntwo');
  assert.equal(d.decode(stack(0xabn, 0x10n, 6n, 0n), spec), 'three\ntwo\ntwo');
  assert.equal(
    d.decode(stack(0x01n, 0xacn, 0x01n, 0n), spec),
    '??\nthree\n??',
    'before the re-read interval',
  );
  now = 5000;
  assert.equal(d.decode(stack(0xabn, 3n, 0n), spec), 'three\nzero', 'the miss re-read kallsyms');
  assert.equal(d.decode(stack(0x01n, 0xacn, 0x01n, 0n), spec), '??\nthree\n??');
  assert.equal(d.decode(stack(4n), spec), 'one', 'no terminating zero needed');
});

test('kstack: live kernel — a return address inside schedule() resolves to schedule', () => {
  const ksyms = new Kallsyms();
  const addr = ksyms.addressOf('schedule');
  assert.ok(addr);
  const d = kstackDecoder(() => ksyms);
  assert.equal(d.decode(stack(addr + 4n, 0n), spec), 'schedule');
});

test('kstack: malformed input is a DecodeError', () => {
  const d = kstackDecoder(() => {
    throw new Error('not used');
  });
  assert.throws(() => d.decode(new Uint8Array(12), spec), DecodeError);
  assert.throws(() => d.decode('ffffffff81000000', spec), DecodeError);
  const failing = kstackDecoder(() => new Kallsyms({ path: '/nonexistent/kallsyms' }));
  assert.throws(
    () => failing.decode(stack(1n), spec),
    (e: unknown) => e instanceof DecodeError && /nonexistent/.test(e.message),
  );
});
