// SPDX-License-Identifier: GPL-2.0
/*
 * raw-tracepoints: kernel timers started, by callback function, through the
 * raw tracepoint timer_start (the timers program's event, read from the raw
 * arguments: args[0] is the struct timer_list *).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, u64);
} raw_timer_starts_total SEC(".maps");

SEC("raw_tp/timer_start")
int BPF_PROG(do_count, struct timer_list *timer)
{
	u64 function = (u64)BPF_CORE_READ(timer, function);

	increment_map(&raw_timer_starts_total, &function, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
