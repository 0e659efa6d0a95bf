// SPDX-License-Identifier: GPL-2.0
/*
 * raw-tracepoints: kernel timers started, by callback function, through the
 * raw tracepoint timer_start (the timers program's event, read from the raw
 * arguments: args[0] is the struct timer_list *).
 *
 * Hook sets (see hooks.bpf.h), in order of preference; both attach to
 * raw_tp/timer_start and count the same event with the same key:
 *   raw_tp        — the raw pointer cast to its type with the bpf_rdonly_cast
 *                   kfunc (Linux 6.2+), whose call the verifier replaces with a
 *                   move: the field is a direct (fault-safe) load
 *   raw_tp_probe  — the field read with a probe-read helper call (any kernel);
 *                   ~25 ns more per event on the bench machine
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"
#include "hooks.bpf.h"

HOOK_FALLBACK();

/* Weak: an object that names it still loads where the kernel lacks it (the set using it fails). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, u64);
} raw_timer_starts_total SEC(".maps");

/*
 * The counts of the keys that have a slot (maps.bpf.h increment_slot): the hot
 * path inlined, no helper call. 1,024 slots, as many as the map's entries.
 */
#define SLOT_BITS 10
COUNTER_SLOTS(raw_timer_starts_slots, SLOT_BITS);

SEC("raw_tp/timer_start")
int BPF_PROG(raw_tp__timer_start, struct timer_list *timer)
{
	struct timer_list *t = bpf_rdonly_cast(timer, bpf_core_type_id_kernel(struct timer_list));
	u64 function = (u64)t->function;

	increment_slot(&raw_timer_starts_slots, SLOT_BITS, &raw_timer_starts_total, function, 1);
	return 0;
}

SEC("raw_tp/timer_start")
int BPF_PROG(raw_tp_probe__timer_start, struct timer_list *timer)
{
	u64 function = (u64)BPF_CORE_READ(timer, function);

	increment_slot(&raw_timer_starts_slots, SLOT_BITS, &raw_timer_starts_total, function, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
