// SPDX-License-Identifier: GPL-2.0
/*
 * Test object for the native addon (the kernel tests in src/native). Every
 * program counts or reports system calls of one thread only (targ_tid): the
 * tests trigger them with the addon's syscallGetpid(n) / syscallGetpgid(n,
 * ADDON_TEST_MARKER) helpers from their main thread, and assert on deltas.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"
#include "addon_test.h"

const volatile __u32 targ_tgid = 0;
const volatile __u32 targ_tid = 0;
const volatile __u64 targ_cookie = 0;
const volatile bool targ_enabled = true;

/* getpid calls per tgid. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

/* getpid calls, one slot per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} percpu_counts SEC(".maps");

/* [0] getpid calls, [1] no-wakeup reserve failures, [2] wakeup reserve failures. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} array_counts SEC(".maps");

/* Filled from user space only: batch read and per-CPU read tests. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 100000);
	__type(key, __u32);
	__type(value, __u64);
} big_hash SEC(".maps");

struct pair_key {
	__u32 a;
	__u32 b;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct pair_key);
	__type(value, __u32);
} percpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events_wakeup SEC(".maps");

__u64 seq_nowakeup = 0;
__u64 seq_wakeup = 0;

static __always_inline bool ours(void)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (!targ_enabled)
		return false;
	if (targ_tgid && (__u32)(id >> 32) != targ_tgid)
		return false;
	if (targ_tid && (__u32)id != targ_tid)
		return false;
	return true;
}

static __always_inline void bump(void *map, __u32 key)
{
	__u64 *v = bpf_map_lookup_elem(map, &key);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int count_getpid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 zero = 0;
	__u64 *v;

	if (!ours())
		return 0;
	increment_map(&counts, &tgid, 1);
	v = bpf_map_lookup_elem(&percpu_counts, &zero);
	if (v)
		*v += 1;
	bump(&array_counts, 0);
	return 0;
}

static __always_inline void submit(void *ring, __u64 *seq, __u32 kind, __u32 fail_slot, __u64 flags)
{
	struct addon_test_event *e;
	__u64 id = bpf_get_current_pid_tgid();

	e = bpf_ringbuf_reserve(ring, sizeof(*e), 0);
	if (!e) {
		bump(&array_counts, fail_slot);
		return;
	}
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->seq = __sync_fetch_and_add(seq, 1);
	e->cookie = targ_cookie;
	e->kind = kind;
	e->pad = 0;
	bpf_ringbuf_submit(e, flags);
}

static __always_inline bool marked(struct trace_event_raw_sys_enter *ctx)
{
	return BPF_CORE_READ(ctx, args[0]) == ADDON_TEST_MARKER;
}

/* Submits without waking the reader: user space must drain with ring_buffer__consume. */
SEC("tracepoint/syscalls/sys_enter_getpgid")
int ring_nowakeup(struct trace_event_raw_sys_enter *ctx)
{
	if (ours() && marked(ctx))
		submit(&events, &seq_nowakeup, 1, 1, BPF_RB_NO_WAKEUP);
	return 0;
}

__u64 seq_discard = 0;

/* Like ring_nowakeup (kind 3), but discards every third reservation: the reader must skip it. */
SEC("tracepoint/syscalls/sys_enter_getpgid")
int ring_discard(struct trace_event_raw_sys_enter *ctx)
{
	struct addon_test_event *e;
	__u64 id = bpf_get_current_pid_tgid();

	if (!ours() || !marked(ctx))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		bump(&array_counts, 1);
		return 0;
	}
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->seq = __sync_fetch_and_add(&seq_discard, 1);
	e->cookie = targ_cookie;
	e->kind = 3;
	e->pad = 0;
	if (e->seq % 3 == 2)
		bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
	else
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

/* Submits with a wake-up: the epoll fd becomes readable. */
SEC("tracepoint/syscalls/sys_enter_getpgid")
int ring_wakeup(struct trace_event_raw_sys_enter *ctx)
{
	if (ours() && marked(ctx))
		submit(&events_wakeup, &seq_wakeup, 2, 2, 0);
	return 0;
}

/* Attached by function name in the addon binary (attachUprobe test). */
SEC("uprobe")
int BPF_KPROBE(uprobe_target, int arg)
{
	if (ours())
		bump(&array_counts, 3);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
