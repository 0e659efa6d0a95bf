import { test } from 'node:test';
import assert from 'node:assert/strict';
import { macroValue, preprocess } from './headers.ts';

test('preprocess: #if/#ifdef/#elif/#else select defines; aliases resolve through other macros', () => {
  const text = `
/* comment with #define NOPE 1 */
#define A 1
#ifdef WANT_B
#define B 2
#else
#define B 3
#endif
#if defined(WANT_C) || BITS != 32
#define C (A + 10)
#endif
#if BITS == 32
#define D 4
#elif BITS == 64
#define D 5
#else
#define D 6
#endif
#define E B
#define F(x) x
#define LONG 1 + \\
  1
#undef A
#define A 7`;
  const m = preprocess(text, { BITS: '64' });
  assert.equal(m.has('NOPE'), false);
  assert.equal(macroValue('B', m), 3n);
  assert.equal(macroValue('C', m), 17n);
  assert.equal(macroValue('D', m), 5n);
  assert.equal(macroValue('E', m), 3n);
  assert.equal(m.has('F'), false, 'function-like macros are skipped');
  assert.equal(macroValue('LONG', m), 2n);
  assert.equal(macroValue('A', m), 7n);
  assert.equal(macroValue('MISSING', m), undefined);
  assert.equal(macroValue('B', preprocess(text, { WANT_B: '' })), 2n);
});

test('preprocess: unbalanced conditionals are errors', () => {
  assert.throws(() => preprocess('#if 1\n#define A 1\n'), /unterminated/);
  assert.throws(() => preprocess('#endif\n'), /without #if/);
});
