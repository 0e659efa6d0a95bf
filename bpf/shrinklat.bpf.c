// SPDX-License-Identifier: GPL-2.0
/*
 * shrinklat: memory reclaim latency.
 *
 * Hook sets (see hooks.bpf.h), in order of preference:
 *   kprobe      — kprobe + kretprobe on shrink_node(): the time of every
 *                 shrink_node() call, kswapd's included, into
 *                 shrink_node_latency_seconds (ebpf_exporter's metric).
 *   tp_btf      — the vmscan begin/end tracepoint pairs around a whole reclaim
 *                 invocation: try_to_free_mem_cgroup_pages() (memcg limit
 *                 reclaim) and try_to_free_pages() (direct reclaim). One
 *                 invocation makes one or more shrink_node() passes and kswapd
 *                 has no begin/end pair, so this is a different quantity with
 *                 its own metric: vmscan_reclaim_latency_seconds{kind}.
 *   tracepoint  — the same pairs through the classic vmscan tracepoints.
 *
 * Both histograms are exp2 over microseconds, slots 0..26, with the sum of
 * microseconds in slot 27 (ebpf_exporter's layout).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "maps.bpf.h"
#include "bits.bpf.h"
#include "hooks.bpf.h"

HOOK_FALLBACK();

#define MAX_SLOT 26

/* Time only this process's reclaim (tgid); 0: every process. */
const volatile u32 filter_tgid = 0;

/* What a begin/end pair brackets: the `kind` label (static_map in the YAML). */
#define KIND_DIRECT 0
#define KIND_MEMCG 1

struct reclaim_key {
	u32 kind;
	u32 bucket;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SLOT + 2);
	__type(key, u32);
	__type(value, u64);
} shrink_node_latency_seconds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * (MAX_SLOT + 2));
	__type(key, struct reclaim_key);
	__type(value, u64);
} vmscan_reclaim_latency_seconds SEC(".maps");

/* Start times, by thread id (and kind in the upper half for the pairs). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u64);
	__type(value, u64);
} starts SEC(".maps");

static __always_inline void start(u64 key)
{
	u64 now = bpf_ktime_get_ns();

	if (filter_tgid && bpf_get_current_pid_tgid() >> 32 != filter_tgid)
		return;
	update_map(&starts, &key, &now, BPF_ANY);
}

/* Microseconds since start(key), or -1 when no start was seen (attached mid-call). */
static __always_inline s64 stop(u64 key)
{
	u64 *ts = bpf_map_lookup_elem(&starts, &key);
	u64 delta;

	if (!ts)
		return -1;
	delta = (bpf_ktime_get_ns() - *ts) / 1000;
	bpf_map_delete_elem(&starts, &key);
	return delta;
}

static __always_inline u64 tid(void)
{
	return (u32)bpf_get_current_pid_tgid();
}

SEC("kprobe/shrink_node")
int BPF_KPROBE(kprobe__shrink_node)
{
	start(tid());
	return 0;
}

SEC("kretprobe/shrink_node")
int BPF_KRETPROBE(kprobe__shrink_node_ret)
{
	s64 us = stop(tid());
	u32 slot, sum = HIST_SUM_SLOT(MAX_SLOT);
	u64 *v;

	if (us < 0)
		return 0;
	slot = exp2_slot(us, MAX_SLOT);
	v = bpf_map_lookup_elem(&shrink_node_latency_seconds, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
	v = bpf_map_lookup_elem(&shrink_node_latency_seconds, &sum);
	if (v)
		__sync_fetch_and_add(v, us);
	return 0;
}

static __always_inline void reclaim_begin(u32 kind)
{
	start(tid() | (u64)kind << 32);
}

static __always_inline void reclaim_end(u32 kind)
{
	s64 us = stop(tid() | (u64)kind << 32);
	struct reclaim_key key = { .kind = kind };

	if (us < 0)
		return;
	key.bucket = exp2_slot(us, MAX_SLOT);
	increment_map(&vmscan_reclaim_latency_seconds, &key, 1);
	key.bucket = HIST_SUM_SLOT(MAX_SLOT);
	increment_map(&vmscan_reclaim_latency_seconds, &key, us);
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(tp_btf__memcg_reclaim_begin, int order, gfp_t gfp_flags)
{
	reclaim_begin(KIND_MEMCG);
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_end")
int BPF_PROG(tp_btf__memcg_reclaim_end, unsigned long nr_reclaimed)
{
	reclaim_end(KIND_MEMCG);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(tp_btf__direct_reclaim_begin, int order, gfp_t gfp_flags)
{
	reclaim_begin(KIND_DIRECT);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int BPF_PROG(tp_btf__direct_reclaim_end, unsigned long nr_reclaimed)
{
	reclaim_end(KIND_DIRECT);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_memcg_reclaim_begin")
int tracepoint__memcg_reclaim_begin(void *ctx)
{
	reclaim_begin(KIND_MEMCG);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_memcg_reclaim_end")
int tracepoint__memcg_reclaim_end(void *ctx)
{
	reclaim_end(KIND_MEMCG);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_direct_reclaim_begin")
int tracepoint__direct_reclaim_begin(void *ctx)
{
	reclaim_begin(KIND_DIRECT);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_direct_reclaim_end")
int tracepoint__direct_reclaim_end(void *ctx)
{
	reclaim_end(KIND_DIRECT);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
