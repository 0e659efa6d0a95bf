import { isIPv4 } from 'node:net';
import type { DecoderSpec } from '../pipeline/data.ts';
import { DecodeError, SKIP, asText, type Decoder, type Skip } from './decoder.ts';

/**
 * Decoders that need nothing but their input. Output strings match
 * ebpf_exporter's exactly (see shared/reference/ebpf_exporter.md §1.6).
 */

function bytesOf(name: string, input: Uint8Array | string): Uint8Array {
  if (typeof input === 'string')
    throw new DecodeError(name, 'expects raw key bytes; put it first in the chain');
  return input;
}

export const uintDecoder: Decoder = {
  name: 'uint',
  pure: true,
  decode(input) {
    const b = bytesOf('uint', input);
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    switch (b.length) {
      case 1:
        return String(view.getUint8(0));
      case 2:
        return String(view.getUint16(0, true));
      case 4:
        return String(view.getUint32(0, true));
      case 8:
        return view.getBigUint64(0, true).toString();
      default:
        throw new DecodeError('uint', `expects 1, 2, 4 or 8 bytes, got ${b.length}`);
    }
  },
};

export const stringDecoder: Decoder = {
  name: 'string',
  pure: true,
  decode(input) {
    return asText(input);
  },
};

export const hexDecoder: Decoder = {
  name: 'hex',
  pure: true,
  decode(input) {
    return typeof input === 'string'
      ? Buffer.from(input, 'utf8').toString('hex')
      : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('hex');
  },
};

export const staticMapDecoder: Decoder = {
  name: 'static_map',
  pure: true,
  decode(input, spec: DecoderSpec) {
    const key = asText(input);
    const map = spec.staticMap;
    if (!map) return 'empty mapping';
    const hit = Object.hasOwn(map, key) ? map[key] : undefined;
    if (hit !== undefined) return hit;
    return spec.allowUnknown ? key : `unknown:${key}`;
  },
};

const regexpCache = new Map<string, RegExp>();

export const regexpDecoder: Decoder = {
  name: 'regexp',
  pure: true,
  decode(input, spec: DecoderSpec): string | Skip {
    const text = asText(input);
    for (const source of spec.regexps ?? []) {
      let re = regexpCache.get(source);
      if (!re) {
        re = new RegExp(source);
        regexpCache.set(source, re);
      }
      const m = re.exec(text);
      if (!m) continue;
      // Exactly one capture group: the submatch; otherwise the whole match.
      return m.length === 2 ? (m[1] ?? '') : m[0];
    }
    return SKIP;
  },
};

export const inetIpDecoder: Decoder = {
  name: 'inet_ip',
  pure: true,
  decode(input) {
    const b = bytesOf('inet_ip', input);
    if (b.length === 4) return Array.from(b).join('.');
    if (b.length !== 16) throw new DecodeError('inet_ip', `expects 4 or 16 bytes, got ${b.length}`);
    // IPv4-mapped addresses print as IPv4, as Go's net.IP.String() does.
    const mapped = b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
    if (mapped) {
      const v4 = Array.from(b.slice(12)).join('.');
      if (isIPv4(v4)) return v4;
    }
    return formatIPv6(b);
  },
};

function formatIPv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] as number) << 8) | (b[i + 1] as number));
  // Longest run of two or more zero groups becomes "::" (RFC 5952).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export const builtinDecoders: readonly Decoder[] = [
  uintDecoder,
  stringDecoder,
  hexDecoder,
  staticMapDecoder,
  regexpDecoder,
  inetIpDecoder,
];
