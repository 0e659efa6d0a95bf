import { DecodeError, asText } from './decoder.ts';

/**
 * Number parsing and formatting with Go's exact semantics, so decoders that
 * take a decimal string (chained after `uint`) accept and print what
 * ebpf_exporter's `strconv.Atoi` / `strconv.ParseUint` and `fmt` would.
 * Values are bigint: a u64 label does not fit a double.
 */

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

/** `strconv.Atoi` on 64-bit: optional sign, decimal digits, int64 range. */
export function parseGoInt(decoder: string, input: Uint8Array | string): bigint {
  const text = asText(input);
  if (!/^[+-]?[0-9]+$/.test(text))
    throw new DecodeError(decoder, `expects a decimal integer, got ${quote(text)}`);
  const n = BigInt(text);
  if (n < INT64_MIN || n > INT64_MAX)
    throw new DecodeError(decoder, `${quote(text)} is out of the int64 range`);
  return n;
}

/** `strconv.ParseUint(s, 10, 64)`: decimal digits only (no sign), uint64 range. */
export function parseGoUint(decoder: string, input: Uint8Array | string): bigint {
  const text = asText(input);
  if (!/^[0-9]+$/.test(text))
    throw new DecodeError(decoder, `expects an unsigned decimal integer, got ${quote(text)}`);
  const n = BigInt(text);
  if (n > UINT64_MAX) throw new DecodeError(decoder, `${quote(text)} is out of the uint64 range`);
  return n;
}

/** `uint64(n)` of an int64: negative values wrap modulo 2^64. */
export function asUint64(n: bigint): bigint {
  return BigInt.asUintN(64, n);
}

/**
 * Go's `fmt.Sprintf("%0<width>x", n)` for an integer: lowercase hex, zero
 * padded to `width` characters including a leading "-" for negative values.
 */
export function goHex(n: bigint, width: number): string {
  const negative = n < 0n;
  const digits = (negative ? -n : n).toString(16);
  const sign = negative ? '-' : '';
  return sign + digits.padStart(width - sign.length, '0');
}

/** Input text for an error message: quoted, control characters escaped, cut at 40 characters. */
function quote(text: string): string {
  const cut = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return JSON.stringify(cut);
}
