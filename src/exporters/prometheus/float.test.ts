import assert from 'node:assert/strict';
import { test } from 'node:test';
import { goFloat } from './float.ts';

/**
 * What Go's Prometheus client writes for each value (expfmt writeFloat: the special
 * cases, then strconv.FormatFloat(v, 'g', -1, 64)). The right-hand sides were derived from
 * the rule cited in float.ts and checked by printing them with Go's strconv (go1.19,
 * `fmt.Println(strconv.FormatFloat(v, 'g', -1, 64))`); none is computed by the code under test.
 */
const GO: readonly [number, string][] = [
  // writeFloat's own cases.
  [0, '0'],
  [-0, '0'],
  [1, '1'],
  [-1, '-1'],
  [NaN, 'NaN'],
  [Infinity, '+Inf'],
  [-Infinity, '-Inf'],
  // exp2 buckets × 1e-6 (ebpf_exporter's µs histograms): exponent form below 1e-4.
  [1e-6, '1e-06'],
  [2e-6, '2e-06'],
  [16e-6, '1.6e-05'],
  [0.000016, '1.6e-05'],
  [32e-6, '3.2e-05'],
  [64e-6, '6.4e-05'],
  [128e-6, '0.000128'],
  [0.000512, '0.000512'],
  [0.001024, '0.001024'],
  [1.048576, '1.048576'],
  [134.217728, '134.217728'],
  // The threshold: exponent -4 is plain, -5 is not.
  [0.0001, '0.0001'],
  [0.00001, '1e-05'],
  [0.00012345, '0.00012345'],
  [0.000012345, '1.2345e-05'],
  // Exponent 5 is plain, 6 is not — whatever the number of digits.
  [100000, '100000'],
  [999999, '999999'],
  [123456.7, '123456.7'],
  [1e6, '1e+06'],
  [1000001, '1.000001e+06'],
  [1234567, '1.234567e+06'],
  [4194304, '4.194304e+06'],
  [16777216, '1.6777216e+07'],
  [1796616505.471, '1.796616505471e+09'],
  [1e21, '1e+21'],
  [2 ** 53, '9.007199254740992e+15'],
  [2 ** 53 + 2, '9.007199254740994e+15'],
  [1.8446744073709552e19, '1.8446744073709552e+19'],
  // Three-digit exponents, extremes, shortest round-trip digits.
  [1e100, '1e+100'],
  [1.5e-7, '1.5e-07'],
  [Number.MAX_VALUE, '1.7976931348623157e+308'],
  [Number.MIN_VALUE, '5e-324'],
  [2.2250738585072014e-308, '2.2250738585072014e-308'],
  [0.1 + 0.2, '0.30000000000000004'],
  [0.1, '0.1'],
  [0.5, '0.5'],
  [2.5, '2.5'],
  [42, '42'],
  [-42.5, '-42.5'],
  [-0.00001, '-1e-05'],
  [-1234567, '-1.234567e+06'],
  [0.01125, '0.01125'],
  [2.444053, '2.444053'],
  [0.10588499999999999, '0.10588499999999999'],
];

test('goFloat writes what the Go Prometheus client writes', () => {
  for (const [v, want] of GO) assert.equal(goFloat(v), want, `value ${String(v)}`);
});

test('goFloat round-trips: the text reads back as the same double', () => {
  const parse = (s: string): number =>
    s === '+Inf' ? Infinity : s === '-Inf' ? -Infinity : s === 'NaN' ? NaN : Number(s);
  let seed = 7;
  const next = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let i = 0; i < 20_000; i++) {
    const v = (next() - 0.5) * 10 ** Math.floor(next() * 40 - 20);
    const text = goFloat(v);
    assert.ok(Object.is(parse(text), v === 0 ? 0 : v), `${String(v)} → ${text}`);
    assert.match(text, /^-?(\d+(\.\d+)?|\d(\.\d+)?e[+-]\d{2,3})$/, `${String(v)} → ${text}`);
  }
});
