import { DecodeError, type Decoder } from './decoder.ts';
import { parseGoInt } from './numeric.ts';

/**
 * `cgroup`: a decimal cgroup id (chain after `uint`) → its cgroupfs path,
 * mount point included ("/sys/fs/cgroup/unified/system.slice/x.service" on a
 * hybrid host, "/sys/fs/cgroup/system.slice/x.service" on a pure v2 one);
 * `unknown_cgroup_id:<id>` when no hierarchy has it. Strings as in
 * ebpf_exporter (decoder/cgroup.go: `strconv.Atoi`, then
 * `fmt.Sprintf("unknown_cgroup_id:%d", id)`; cgroup/walker.go yields the
 * walked path). Unlike its walker we do not cache misses for good: a miss
 * rewalks, and an id still missing is looked for again after rescan_interval.
 */
/** What the decoder needs of a cgroup table (Cgroups, or the cgroup processor's watched CgroupTable). */
export interface CgroupResolver {
  resolve(id: bigint): string | undefined;
}

export function cgroupDecoder(cgroups: () => CgroupResolver | undefined): Decoder {
  return {
    name: 'cgroup',
    decode(input) {
      const id = parseGoInt('cgroup', input);
      if (id <= 0n) return `unknown_cgroup_id:${id}`;
      let path: string | undefined;
      try {
        path = cgroups()?.resolve(id);
      } catch (err) {
        throw new DecodeError('cgroup', `resolve cgroup id ${id}: ${(err as Error).message}`);
      }
      return path ?? `unknown_cgroup_id:${id}`;
    },
  };
}
