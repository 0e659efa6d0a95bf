import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinDecoders } from './builtin.ts';
import { DecodeError, SKIP, resumeChain } from './decoder.ts';
import type { DecoderSpec, LabelSlot } from '../pipeline/data.ts';

const registry = new Map(builtinDecoders.map((d) => [d.name, d]));
const le = (n: number, size: number): Uint8Array => {
  const b = Buffer.alloc(size);
  b.writeUIntLE(n, 0, Math.min(size, 6));
  return b;
};

function run(value: Uint8Array | string, pending: DecoderSpec[]): LabelSlot | typeof SKIP {
  return resumeChain({ name: 'l', value, pending }, registry);
}

/** The decoded slot; fails the test when the chain dropped the label set. */
function slot(value: Uint8Array | string, pending: DecoderSpec[]): LabelSlot {
  const out = run(value, pending);
  if (out === SKIP) assert.fail('label set dropped');
  return out;
}

test('uint: 1, 2, 4, 8 little-endian bytes → decimal; other sizes are errors', () => {
  assert.equal(slot(le(7, 1), [{ name: 'uint' }]).value, '7');
  assert.equal(slot(le(513, 2), [{ name: 'uint' }]).value, '513');
  assert.equal(slot(le(70000, 4), [{ name: 'uint' }]).value, '70000');
  const big = Buffer.alloc(8);
  big.writeBigUInt64LE(18446744073709551615n);
  assert.equal(slot(big, [{ name: 'uint' }]).value, '18446744073709551615');
  assert.throws(() => run(le(1, 3), [{ name: 'uint' }]), DecodeError);
});

test('string cuts at NUL; hex is lowercase', () => {
  assert.equal(slot(Buffer.from('bash\0\0junk'), [{ name: 'string' }]).value, 'bash');
  assert.equal(slot(Buffer.from([0xde, 0xad, 0x0b]), [{ name: 'hex' }]).value, 'dead0b');
});

test('static_map: mapped, unknown:<in>, allow_unknown passthrough, empty mapping', () => {
  const map = { '1': 'read', '2': 'write' };
  assert.equal(slot(le(2, 4), [{ name: 'uint' }, { name: 'static_map', staticMap: map }]).value, 'write');
  assert.equal(slot(le(9, 4), [{ name: 'uint' }, { name: 'static_map', staticMap: map }]).value, 'unknown:9');
  assert.equal(
    slot(le(9, 4), [{ name: 'uint' }, { name: 'static_map', staticMap: map, allowUnknown: true }]).value,
    '9',
  );
  assert.equal(slot(le(9, 4), [{ name: 'uint' }, { name: 'static_map' }]).value, 'empty mapping');
});

test('regexp: one group → submatch; no group → whole match; no match drops the label set', () => {
  const spec = (regexps: string[]): DecoderSpec[] => [{ name: 'string' }, { name: 'regexp', regexps }];
  assert.equal(slot(Buffer.from('kworker/3:1\0'), spec(['^kworker/(\\d+)'])).value, '3');
  assert.equal(slot(Buffer.from('systemd\0'), spec(['^sys'])).value, 'sys');
  assert.equal(run(Buffer.from('bash\0'), spec(['^kworker'])), SKIP);
});

test('inet_ip: IPv4, IPv6 with ::, IPv4-mapped IPv6 prints as IPv4', () => {
  assert.equal(slot(Uint8Array.from([10, 0, 0, 1]), [{ name: 'inet_ip' }]).value, '10.0.0.1');
  const v6 = Buffer.alloc(16);
  v6.writeUInt16BE(0x2001, 0);
  v6.writeUInt16BE(0xdb8, 2);
  v6.writeUInt16BE(1, 14);
  assert.equal(slot(v6, [{ name: 'inet_ip' }]).value, '2001:db8::1');
  const mapped = Buffer.alloc(16);
  mapped[10] = 0xff;
  mapped[11] = 0xff;
  mapped.set([192, 168, 1, 2], 12);
  assert.equal(slot(mapped, [{ name: 'inet_ip' }]).value, '192.168.1.2');
});

test('a chain stops at a decoder the registry lacks and keeps the rest pending', () => {
  const s = slot(le(5, 8), [{ name: 'ksym' }, { name: 'regexp', regexps: ['x'] }]);
  assert.ok(s.value instanceof Uint8Array);
  assert.deepEqual(
    s.pending.map((p) => p.name),
    ['ksym', 'regexp'],
  );
  const partial = slot(le(5, 4), [{ name: 'uint' }, { name: 'cgroup' }]);
  assert.equal(partial.value, '5');
  assert.deepEqual(
    partial.pending.map((p) => p.name),
    ['cgroup'],
  );
});
