import { loadTables, syscallArchOf, type LoadOptions, type SyscallArch } from '../kernel/tables.ts';
import { DecodeError, type Decoder } from './decoder.ts';
import { asUint64, parseGoInt } from './numeric.ts';

export interface SyscallDecoderOptions extends LoadOptions {
  /** Which table; default from `process.arch` (x64 → x86_64, arm64 → arm64). */
  readonly arch?: SyscallArch | undefined;
  /** A table to use instead of the generated one (decimal number → name). */
  readonly names?: Readonly<Record<string, string>> | undefined;
}

/**
 * `syscall`: a decimal syscall number (chain after `uint`) → its name;
 * `unknown_syscall:<n>` otherwise. Like ebpf_exporter (decoder/syscall.go)
 * the input is parsed as a signed int and looked up as uint64, so "-1"
 * prints as unknown_syscall:18446744073709551615.
 *
 * Names are the kernel's `__NR_<name>` from the uapi headers. ebpf_exporter's
 * table instead holds strace's handler names (SEN(...) in strace v6.8
 * syscallent.h), which differ for some numbers (pread64 is "pread" there,
 * exit_group "exit", clock_gettime "clock_gettime64"); see the report.
 */
export function syscallDecoder(options: SyscallDecoderOptions = {}): Decoder {
  let names = options.names;
  return {
    name: 'syscall',
    pure: true,
    decode(input) {
      const n = asUint64(parseGoInt('syscall', input));
      if (!names) {
        const arch = options.arch ?? syscallArchOf(process.arch);
        if (!arch) throw new DecodeError('syscall', `no syscall table for architecture ${process.arch}`);
        let table;
        try {
          table = loadTables(options).syscalls[arch];
        } catch (err) {
          throw new DecodeError('syscall', `no syscall table: ${(err as Error).message}`);
        }
        if (!table)
          throw new DecodeError('syscall', `no ${arch} syscall table was generated (headers missing?)`);
        names = table.names;
      }
      const key = n.toString();
      return Object.hasOwn(names, key) ? (names[key] as string) : `unknown_syscall:${key}`;
    },
  };
}
