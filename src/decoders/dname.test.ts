import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnameDecoder } from './dname.ts';
import { resumeChain, SKIP } from './decoder.ts';
import { builtinDecoders } from './builtin.ts';

const spec = { name: 'dname' };

test('dname: the cases of ebpf_exporter decoder/dname_test.go', () => {
  assert.equal(dnameDecoder.decode('', spec), '.');
  assert.equal(dnameDecoder.decode('\x03com', spec), 'com');
  assert.equal(dnameDecoder.decode('\x07example\x03com', spec), 'example.com');
  assert.equal(
    dnameDecoder.decode('\x05com', spec),
    '\x05com',
    'a label past the end returns the input unchanged',
  );
});

test('dname: chained after string, which cuts the wire name at its NUL terminator', () => {
  const registry = new Map([...builtinDecoders, dnameDecoder].map((d) => [d.name, d]));
  const wire = Buffer.from('\x03www\x07example\x03org\x00\x00\x00', 'latin1');
  const out = resumeChain({ name: 'q', value: wire, pending: [{ name: 'string' }, spec] }, registry);
  assert.notEqual(out, SKIP);
  assert.equal(out !== SKIP && out.value, 'www.example.org');
});

test('dname: raw bytes decode as ebpf_exporter would (each zero length byte becomes a dot)', () => {
  assert.equal(dnameDecoder.decode(Buffer.from('\x03com\x00\x00', 'latin1'), spec), 'com..');
  assert.equal(dnameDecoder.decode(new Uint8Array([2, 0xc3, 0xa9]), spec), 'é', 'UTF-8 label bytes');
});

test('dname: malformed (truncated) names never throw: they pass through as in ebpf_exporter', () => {
  assert.equal(dnameDecoder.decode('\x3fabc', spec), '\x3fabc');
  assert.equal(dnameDecoder.decode(new Uint8Array([9, 0x61]), spec), '\x09a');
});
