import type { Decoder } from './decoder.ts';

/**
 * `dname`: a DNS wire-format name (length-prefixed labels, chain after
 * `string`) → dotted text: "\x07example\x03com" → "example.com"; empty → ".".
 * Exactly as ebpf_exporter (decoder/dname.go): every length byte becomes a
 * dot and the leading dot is dropped, so a NUL terminator that reaches it
 * (bytes input) shows as a trailing dot; a label running past the end returns
 * the input unchanged rather than failing — a truncated qname is data, not
 * a configuration error, so this decoder never throws.
 */
export const dnameDecoder: Decoder = {
  name: 'dname',
  pure: true,
  decode(input) {
    const bytes =
      typeof input === 'string'
        ? Buffer.from(input, 'utf8')
        : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    if (bytes.length === 0) return '.';
    const out = Buffer.from(bytes);
    for (let off = 0; off < bytes.length;) {
      const n = bytes[off] as number;
      out[off] = 0x2e; // '.'
      off++;
      if (off + n > bytes.length) return typeof input === 'string' ? input : bytes.toString('utf8');
      off += n;
    }
    return out.subarray(1).toString('utf8');
  },
};
