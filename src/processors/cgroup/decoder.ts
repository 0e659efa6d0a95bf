import { DecodeError, type Decoder } from '../../decoders/decoder.ts';
import { parseGoInt } from '../../decoders/numeric.ts';

/** What the decoder needs of the table. */
export interface CgroupResolver {
  resolve(id: bigint): string | undefined;
}

/**
 * `cgroup`: a decimal cgroup id (chained after `uint`) → its cgroupfs path,
 * mount point included ("/sys/fs/cgroup/unified/kubepods.slice/…" on a hybrid
 * host); `unknown_cgroup_id:<id>` when the table does not know it. Strings as
 * ebpf_exporter prints them (decoder/cgroup.go: `strconv.Atoi`, then
 * `fmt.Sprintf("unknown_cgroup_id:%d", id)`).
 */
export function cgroupTableDecoder(resolver: () => CgroupResolver | undefined): Decoder {
  return {
    name: 'cgroup',
    decode(input) {
      const id = parseGoInt('cgroup', input);
      if (id <= 0n) return `unknown_cgroup_id:${id}`;
      let path: string | undefined;
      try {
        path = resolver()?.resolve(id);
      } catch (err) {
        throw new DecodeError('cgroup', `resolve cgroup id ${id}: ${(err as Error).message}`);
      }
      return path ?? `unknown_cgroup_id:${id}`;
    },
  };
}
