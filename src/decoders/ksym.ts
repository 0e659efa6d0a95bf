import { Kallsyms, unknownAddr } from '../kernel/kallsyms.ts';
import { DecodeError, type Decoder } from './decoder.ts';

/** `ksym`: an 8-byte kernel address → its exact symbol, `unknown_addr:0x…` when there is none. */
export function ksymDecoder(kallsyms: Kallsyms): Decoder {
  const cache = new Map<bigint, string>();
  const maxCache = 65_536;
  return {
    name: 'ksym',
    decode(input) {
      if (typeof input === 'string' || input.length !== 8) {
        throw new DecodeError(
          'ksym',
          `expects an 8-byte address, got ${typeof input === 'string' ? 'text' : `${input.length} bytes`}`,
        );
      }
      const addr = new DataView(input.buffer, input.byteOffset, 8).getBigUint64(0, true);
      const cached = cache.get(addr);
      if (cached !== undefined) return cached;
      const sym = kallsyms.exact(addr);
      if (sym === undefined) return unknownAddr(addr); // not cached: a module may load later
      if (cache.size >= maxCache) cache.clear();
      cache.set(addr, sym);
      return sym;
    },
  };
}
