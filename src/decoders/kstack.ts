import type { Kallsyms } from '../kernel/kallsyms.ts';
import { DecodeError, type Decoder } from './decoder.ts';

export interface KstackOptions {
  /** Minimum time between kallsyms re-reads caused by unresolvable frames. Default 10 s. */
  readonly refreshIntervalMs?: number;
  readonly now?: () => number;
}

/**
 * `kstack`: an array of 8-byte kernel addresses, ending at the first 0 (or
 * the end) → one symbol per line, outermost last, each the nearest symbol at
 * or below the address, without offset; `??` for an address below every
 * symbol. Empty stack → "". Matches ebpf_exporter (decoder/kstack.go +
 * kallsyms/decoder.go: `Stack` fills `frame.Sym`, no "+0x…" suffix).
 *
 * A frame that does not resolve makes ebpf_exporter re-read kallsyms on the
 * spot; we do the same, at most once per `refreshIntervalMs`.
 */
export function kstackDecoder(kallsyms: () => Kallsyms, options: KstackOptions = {}): Decoder {
  const interval = options.refreshIntervalMs ?? 10_000;
  const now = options.now ?? Date.now;
  let lastRefresh = -Infinity;
  return {
    name: 'kstack',
    decode(input) {
      if (typeof input === 'string')
        throw new DecodeError('kstack', 'expects raw address bytes; put it first in the chain');
      if (input.length % 8 !== 0)
        throw new DecodeError('kstack', `expects a multiple of 8 bytes, got ${input.length}`);
      const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
      const addrs: bigint[] = [];
      for (let off = 0; off < input.length; off += 8) {
        const addr = view.getBigUint64(off, true);
        if (addr === 0n) break;
        addrs.push(addr);
      }
      if (addrs.length === 0) return '';
      let ksyms: Kallsyms;
      try {
        ksyms = kallsyms();
      } catch (err) {
        throw new DecodeError('kstack', `kernel symbols: ${(err as Error).message}`);
      }
      let frames = addrs.map((a) => ksyms.nearest(a));
      if (frames.includes(undefined) && now() - lastRefresh >= interval) {
        lastRefresh = now();
        ksyms.reload();
        frames = addrs.map((a) => ksyms.nearest(a));
      }
      return frames.map((f) => f ?? '??').join('\n');
    },
  };
}
