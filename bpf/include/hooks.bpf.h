/* Hook fallback: one object, alternative hook sets. */
#ifndef EBPF_COLLECTOR_HOOKS_BPF_H
#define EBPF_COLLECTOR_HOOKS_BPF_H

/*
 * An object that declares HOOK_FALLBACK() tells the receiver that its programs
 * are alternative hook sets: a function named `<set>__<name>` belongs to set
 * `<set>` (e.g. `tp_btf__timer_start`, `tracepoint__timer_start`), and one
 * without `__` belongs to every set. The receiver loads and attaches the first
 * set, in its preference order, that works on the running kernel.
 *
 * Objects without it (ebpf_exporter's) load every program and attach loosely:
 * a program that fails to attach is reported, the rest run.
 */
#define HOOK_FALLBACK() const volatile __u8 ec_hook_fallback = 1

#endif /* EBPF_COLLECTOR_HOOKS_BPF_H */
