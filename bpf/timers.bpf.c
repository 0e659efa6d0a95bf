// SPDX-License-Identifier: GPL-2.0
/*
 * timers: kernel timers started, by callback function.
 *
 * Hook sets (see hooks.bpf.h), in order of preference:
 *   tp_btf      — BTF-typed tracepoint timer_start: reads timer->function
 *   tracepoint  — the classic timer:timer_start tracepoint's `function` field
 * Both count the same event with the same key.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"
#include "hooks.bpf.h"

HOOK_FALLBACK();

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, u64);
} timer_starts_total SEC(".maps");

/*
 * The counts of the keys that have a slot (maps.bpf.h increment_slot): the hot
 * path inlined, no helper call. 1,024 slots, as many as the map's entries.
 */
#define SLOT_BITS 10
COUNTER_SLOTS(timer_starts_slots, SLOT_BITS);

SEC("tp_btf/timer_start")
int BPF_PROG(tp_btf__timer_start, struct timer_list *timer)
{
	/* A typed (BTF) argument: a direct, CO-RE-relocated load, no probe-read helper call. */
	u64 function = (u64)timer->function;

	increment_slot(&timer_starts_slots, SLOT_BITS, &timer_starts_total, function, 1);
	return 0;
}

SEC("tracepoint/timer/timer_start")
int tracepoint__timer_start(struct trace_event_raw_timer_start *ctx)
{
	u64 function = (u64)ctx->function;

	increment_slot(&timer_starts_slots, SLOT_BITS, &timer_starts_total, function, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
