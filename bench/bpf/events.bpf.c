// SPDX-License-Identifier: GPL-2.0
/*
 * events: one 16-byte record per getppid(2) of the generator process, to a
 * ring buffer (submitted without wake-up, drained by the reader's timer) or to
 * a perf buffer. The bench loads one of the two programs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct event {
	u64 ts;
	u32 pid;
	u32 seq;
};

const volatile u32 targ_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} perf_events SEC(".maps");

/* [0] records produced, [1] records the kernel could not deliver (ring full / perf output failed). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} event_stats SEC(".maps");

static __always_inline void count(u32 slot)
{
	u64 *v = bpf_map_lookup_elem(&event_stats, &slot);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int ring_getppid(void *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	struct event *e;

	if ((u32)(id >> 32) != targ_tgid)
		return 0;
	count(0);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(1);
		return 0;
	}
	e->ts = bpf_ktime_get_ns();
	e->pid = (u32)id;
	e->seq = 0;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int perf_getppid(void *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	struct event e = {};

	if ((u32)(id >> 32) != targ_tgid)
		return 0;
	count(0);
	e.ts = bpf_ktime_get_ns();
	e.pid = (u32)id;
	if (bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &e, sizeof(e)))
		count(1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
