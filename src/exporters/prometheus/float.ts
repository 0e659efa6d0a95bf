/**
 * A number as the Go Prometheus client writes it in the text format — sample values,
 * `le` bucket bounds and `quantile`s alike — so that a scrape of ours reads like one of
 * ebpf_exporter (or any Go exporter), and a PromQL selector or recording rule written
 * against `le="1.6e-05"` keeps matching.
 *
 * The rule, from prometheus/common expfmt (text_create.go, writeFloat): NaN → `NaN`,
 * ±Inf → `+Inf`/`-Inf`, zero (negative zero too) → `0`; anything else is Go's
 * strconv.FormatFloat(v, 'g', -1, 64). That is (strconv/ftoa.go, %g with the shortest
 * precision): take the shortest decimal digits that read back as the same double; with
 * x the decimal exponent of the first digit (v = d.ddd × 10^x), use the exponent form
 * when x < -4 or x >= 6 (for the shortest precision Go fixes this threshold at 6, not at
 * the digit count), else plain decimal. The exponent form is `d[.ddd]e±XX`: the sign
 * always written, the exponent at least two digits (`1e+06`, `1.6e-05`, `5e-324`).
 * Plain decimal has no exponent and no trailing zeros (`100000`, `0.0001`, `123456.7`).
 *
 * The digits themselves are JavaScript's Number-to-String digits, which are also the
 * shortest that round-trip and, like Go's, the closest of them to the exact value.
 */
export function goFloat(v: number): string {
  if (v === 0) return '0';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  const sign = v < 0 ? '-' : '';
  const { digits, point } = shortestDigits(Math.abs(v));
  const x = point - 1;
  if (x < -4 || x >= 6) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(x);
    return `${sign}${mantissa}e${x < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
  }
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/**
 * The shortest round-trip digits of a positive finite number, without leading or
 * trailing zeros, and where the decimal point goes: v = 0.<digits> × 10^point.
 */
function shortestDigits(v: number): { digits: string; point: number } {
  const s = String(v); // "123.45", "0.000016", "1e+21", "1.5e-7"
  const e = s.indexOf('e');
  const mantissa = e < 0 ? s : s.slice(0, e);
  const exp = e < 0 ? 0 : Number(s.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const intPart = dot < 0 ? mantissa : mantissa.slice(0, dot);
  const all = intPart + (dot < 0 ? '' : mantissa.slice(dot + 1));
  let start = 0;
  while (start < all.length - 1 && all[start] === '0') start++;
  let end = all.length;
  while (end > start + 1 && all[end - 1] === '0') end--;
  return { digits: all.slice(start, end), point: intPart.length - start + exp };
}
