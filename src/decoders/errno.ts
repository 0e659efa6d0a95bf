import { loadTables, type LoadOptions } from '../kernel/tables.ts';
import { DecodeError, type Decoder } from './decoder.ts';
import { parseGoUint } from './numeric.ts';

/**
 * `errno`: a decimal errno (chain after `uint`) → its name, `EPIPE`;
 * `unknown:<n>` when the number has none (0 included). Names come from the
 * generated table (src/kernel/tables.ts), which reproduces Go's
 * unix.ErrnoName that ebpf_exporter calls (decoder/errno.go).
 */
export function errnoDecoder(
  options: LoadOptions & { names?: Readonly<Record<string, string>> } = {},
): Decoder {
  let names = options.names;
  return {
    name: 'errno',
    pure: true,
    decode(input) {
      const n = parseGoUint('errno', input);
      if (!names) {
        try {
          names = loadTables(options).errno.names;
        } catch (err) {
          throw new DecodeError('errno', `no errno table: ${(err as Error).message}`);
        }
      }
      const key = n.toString();
      return Object.hasOwn(names, key) ? (names[key] as string) : `unknown:${key}`;
    },
  };
}
