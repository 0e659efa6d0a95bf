import { Cgroups, type CgroupsOptions } from '../kernel/cgroups.ts';
import { InterfaceNames, type InterfaceNamesOptions } from '../kernel/interfaces.ts';
import { Kallsyms, sharedKallsyms, type KallsymsOptions } from '../kernel/kallsyms.ts';
import { loadPciDb, type PciDb } from '../kernel/pciids.ts';
import type { LoadOptions, SyscallArch } from '../kernel/tables.ts';
import { builtinDecoders } from './builtin.ts';
import { cgroupDecoder } from './cgroup.ts';
import { DecodeError, type Decoder } from './decoder.ts';
import { dnameDecoder } from './dname.ts';
import { errnoDecoder } from './errno.ts';
import { ifnameDecoder } from './ifname.ts';
import { kstackDecoder } from './kstack.ts';
import { ksymDecoder } from './ksym.ts';
import { majorMinorDecoder } from './majorminor.ts';
import { pciClassDecoder, pciDeviceDecoder, pciSubclassDecoder, pciVendorDecoder } from './pci.ts';
import { syscallDecoder } from './syscall.ts';

/**
 * The kernel-side resources decoders need. Each is created on first use by a
 * decoder that needs it (never at registry creation), once, and shared; pass
 * an instance to share it with other code, or options to configure the one
 * created.
 */
export interface DecoderResources {
  readonly kallsyms?: Kallsyms | KallsymsOptions;
  readonly cgroups?: Cgroups | CgroupsOptions;
  readonly interfaces?: InterfaceNames | InterfaceNamesOptions;
  /** A parsed database, or the paths to search (default: pcidb's /usr/share/hwdata then /usr/share/misc). */
  readonly pciDb?: PciDb | { readonly paths: readonly string[] };
  readonly partitionsPath?: string;
  /** Where the generated errno/syscall tables live (default build/tables). */
  readonly tables?: LoadOptions;
  /** Syscall table to use; default from process.arch. */
  readonly syscallArch?: SyscallArch;
}

/** Call `make` on first use only; a throw is not remembered, so the next use tries again. */
function once<T>(make: () => T): () => T {
  let made: T | undefined;
  return () => (made ??= make());
}

/** Every decoder by name: the builtin ones plus those over kernel resources. */
export function allDecoders(resources: DecoderResources = {}): Map<string, Decoder> {
  const { kallsyms: k, cgroups: c, interfaces: i, pciDb: p } = resources;
  const kallsyms = once(() => (k instanceof Kallsyms ? k : sharedKallsyms(k)));
  const cgroups = once(() => (c instanceof Cgroups ? c : new Cgroups(c)));
  const interfaces = once(() => (i instanceof InterfaceNames ? i : new InterfaceNames(i)));
  // The database is read once; a missing one stays missing (as in ebpf_exporter, read at start).
  const pciDb = once(() => ({ db: p && 'vendors' in p ? p : loadPciDb(p?.paths) }));

  const decoders: Decoder[] = [
    ...builtinDecoders,
    lazyKsym(kallsyms),
    kstackDecoder(kallsyms),
    cgroupDecoder(cgroups),
    ifnameDecoder(interfaces),
    majorMinorDecoder(
      resources.partitionsPath === undefined ? {} : { partitionsPath: resources.partitionsPath },
    ),
    errnoDecoder(resources.tables ?? {}),
    syscallDecoder({ ...resources.tables, arch: resources.syscallArch }),
    dnameDecoder,
    pciVendorDecoder(() => pciDb().db),
    pciDeviceDecoder(() => pciDb().db),
    pciClassDecoder(() => pciDb().db),
    pciSubclassDecoder(() => pciDb().db),
  ];
  return new Map(decoders.map((d) => [d.name, d]));
}

/** ksymDecoder takes a ready Kallsyms; defer building it (and reading kallsyms) to the first decode. */
function lazyKsym(kallsyms: () => Kallsyms): Decoder {
  let inner: Decoder | undefined;
  return {
    name: 'ksym',
    decode(input, spec) {
      if (!inner) {
        try {
          inner = ksymDecoder(kallsyms());
        } catch (err) {
          throw new DecodeError('ksym', `kernel symbols: ${(err as Error).message}`);
        }
      }
      return inner.decode(input, spec);
    },
  };
}

/**
 * Decoders a processor supplies, by the processor type that supplies each: they need a table
 * shared by the agent and kept current (kallsyms, re-read when it changes; the inotify-watched
 * cgroup hierarchy), so a receiver leaves them pending in its batches and the graph adds the
 * processor to a metrics pipeline that uses one and lacks it. Declared here and nowhere else.
 */
export const processorDecoders: ReadonlyMap<string, string> = new Map([
  ['ksym', 'ksym'],
  ['cgroup', 'cgroup'],
]);

/** Names of every decoder `allDecoders` provides (ebpf_exporter's 18). */
export const decoderNames: readonly string[] = [
  'uint',
  'string',
  'hex',
  'static_map',
  'regexp',
  'inet_ip',
  'ksym',
  'kstack',
  'cgroup',
  'ifname',
  'majorminor',
  'errno',
  'syscall',
  'dname',
  'pci_vendor',
  'pci_device',
  'pci_class',
  'pci_subclass',
];
