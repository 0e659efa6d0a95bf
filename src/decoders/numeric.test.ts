import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError } from './decoder.ts';
import { asUint64, goHex, parseGoInt, parseGoUint } from './numeric.ts';

test('parseGoInt is strconv.Atoi: sign, leading zeros, int64 bounds', () => {
  assert.equal(parseGoInt('t', '+7'), 7n);
  assert.equal(parseGoInt('t', '-007'), -7n);
  assert.equal(parseGoInt('t', '9223372036854775807'), 9223372036854775807n);
  assert.equal(parseGoInt('t', '-9223372036854775808'), -9223372036854775808n);
  for (const bad of ['', '-', '1_000', '0x1', ' 1', '1 ', '9223372036854775808'])
    assert.throws(() => parseGoInt('t', bad), DecodeError, bad);
});

test('parseGoUint is strconv.ParseUint(s, 10, 64): no sign, uint64 bounds', () => {
  assert.equal(parseGoUint('t', '18446744073709551615'), 18446744073709551615n);
  for (const bad of ['+1', '-1', '18446744073709551616', 'a'])
    assert.throws(() => parseGoUint('t', bad), DecodeError, bad);
});

test('goHex is fmt %0Nx; asUint64 wraps', () => {
  assert.equal(goHex(5n, 2), '05');
  assert.equal(goHex(0xbeefn, 2), 'beef');
  assert.equal(goHex(-5n, 4), '-005');
  assert.equal(goHex(-5n, 2), '-5');
  assert.equal(asUint64(-1n), 18446744073709551615n);
});
