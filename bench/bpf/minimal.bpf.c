// SPDX-License-Identifier: GPL-2.0
/*
 * minimal: the cheapest useful program on each hook our shipped programs use —
 * one atomic add to an array slot — the yardstick for per-event cost. The bench
 * attaches one at a time; a program is named count__<hook set>__<event>.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} hits SEC(".maps");

static __always_inline int hit(void)
{
	u32 zero = 0;
	u64 *v = bpf_map_lookup_elem(&hits, &zero);

	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

SEC("tp_btf/timer_start")
int BPF_PROG(count__tp_btf__timer_start)
{
	return hit();
}

SEC("tracepoint/timer/timer_start")
int count__tracepoint__timer_start(void *ctx)
{
	return hit();
}

SEC("raw_tp/timer_start")
int count__raw_tp__timer_start(void *ctx)
{
	return hit();
}

SEC("uprobe/libc.so.6:malloc")
int count__uprobe__malloc(void *ctx)
{
	return hit();
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int count__tracepoint__sys_enter_getpid(void *ctx)
{
	return hit();
}

char LICENSE[] SEC("license") = "GPL";
