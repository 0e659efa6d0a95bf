/** Test fixtures for event-derived metrics: records with a comm and a value, and their label definition. */
import { builtinDecoders } from '../../decoders/builtin.ts';
import type { Decoder } from '../../decoders/decoder.ts';

/** ebpf_exporter's built-in decoders by name. */
export const registry = new Map<string, Decoder>(builtinDecoders.map((d) => [d.name, d]));

/** The `comm` label of a record (see `record`). */
export const labels = [{ name: 'comm', size: 16, decoders: [{ name: 'string' as const }] }];

/** A 24-byte record: comm[16], then a u64 value. */
export function record(comm: string, value = 1): Buffer {
  const b = Buffer.alloc(24);
  b.write(comm, 0, 'latin1');
  b.writeBigUInt64LE(BigInt(value), 16);
  return b;
}
