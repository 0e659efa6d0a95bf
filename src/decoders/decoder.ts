import type { DecoderSpec, LabelSlot } from '../pipeline/data.ts';

/** Returned by a decoder to drop the whole label set (regexp no-match): not an error. */
export const SKIP: unique symbol = Symbol('skip label set');
export type Skip = typeof SKIP;

/** A decode failure for one key: the key is dropped and counted, the metric goes on. */
export class DecodeError extends Error {
  readonly decoder: string;
  constructor(decoder: string, message: string) {
    super(`decoder ${decoder}: ${message}`);
    this.name = 'DecodeError';
    this.decoder = decoder;
  }
}

export interface Decoder {
  readonly name: string;
  /**
   * The output depends on the input and the spec only (no table that changes while the
   * agent runs), so a key's decoded labels may be kept while the key is live (the ebpf
   * receiver's key cache). Not pure: kstack and ksym (kallsyms is re-read), ifname
   * (interfaces come and go), majorminor (partitions appear), cgroup.
   */
  readonly pure?: boolean;
  /** Bytes for the first decoder of a chain, the previous decoder's string after. */
  decode(input: Uint8Array | string, spec: DecoderSpec): string | Skip;
}

export type DecoderRegistry = ReadonlyMap<string, Decoder>;

/**
 * Apply a label's pending decoders while the registry has them; stop at the
 * first one it lacks (a processor supplies it later). Returns the new slot,
 * or SKIP. Throws DecodeError.
 */
export function resumeChain(slot: LabelSlot, registry: DecoderRegistry): LabelSlot | Skip {
  let value = slot.value;
  let i = 0;
  for (; i < slot.pending.length; i++) {
    const spec = slot.pending[i] as DecoderSpec;
    const decoder = registry.get(spec.name);
    if (!decoder) break;
    const out = decoder.decode(value, spec);
    if (out === SKIP) return SKIP;
    value = out;
  }
  if (i === 0) return slot;
  return { name: slot.name, value, pending: slot.pending.slice(i) };
}

/** Text of a chain input: bytes are read as UTF-8 up to the first NUL. */
export function asText(input: Uint8Array | string): string {
  if (typeof input === 'string') return input;
  const nul = input.indexOf(0);
  return Buffer.from(input.buffer, input.byteOffset, nul < 0 ? input.length : nul).toString('utf8');
}
