/* kaddrs: kernel symbol addresses set before load, and which hook sets need them. */
#ifndef EBPF_COLLECTOR_KADDRS_BPF_H
#define EBPF_COLLECTOR_KADDRS_BPF_H

/*
 * With `kaddrs: [sym]` in the program's YAML the receiver sets the global
 * `kaddr_<sym>` (declare it with KADDR(sym)) to the symbol's address from
 * /proc/kallsyms before load. A symbol can be missing there (data symbols
 * need CONFIG_KALLSYMS_ALL): HOOK_NEEDS_KADDR(set, sym) tells the receiver
 * that hook set `set` cannot work without it, so only that set fails (with
 * the reason) and the next one is tried. An object that marks no set this way
 * needs every kaddr in every set.
 */
#define KADDR(sym) const volatile __u64 kaddr_##sym = 0
#define HOOK_NEEDS_KADDR(set, sym) const volatile __u8 ec_kaddr__##set##__##sym = 1

#endif /* EBPF_COLLECTOR_KADDRS_BPF_H */
