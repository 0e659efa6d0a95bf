// SPDX-License-Identifier: GPL-2.0
/*
 * tcp-window-clamps: TCP receive windows held low (rcv_ssthresh under 32 KiB).
 *
 * Hook sets (see hooks.bpf.h), in order of preference:
 *   fentry      — fexit/tcp_try_rmem_schedule: tcp_window_clamps_total counts
 *                 returns of the function that prunes the receive queue and
 *                 clamps the window (tcp_clamp_window) when receive memory
 *                 runs out, where the socket's rcv_ssthresh is below 32 KiB.
 *   kprobe      — the same count through kprobe + kretprobe (the socket is
 *                 kept by thread between the two).
 *   tp_btf      — tcp_try_rmem_schedule has no tracepoint. tcp:tcp_probe fires
 *                 for every segment an established socket receives;
 *                 tcp_low_receive_window_segments_total counts those that find
 *                 rcv_ssthresh below 32 KiB. A per-segment sample of the same
 *                 condition, at its own rate: not comparable to the fentry and
 *                 kprobe count, hence its own metric.
 *
 * Tunable: filter_port (local port, host order, 0 = every socket).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"
#include "hooks.bpf.h"

HOOK_FALLBACK();

#define CLAMP_BELOW (32 * 1024)

const volatile u16 filter_port = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} tcp_window_clamps_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} tcp_low_receive_window_segments_total SEC(".maps");

/* kprobe set: the socket of each thread inside tcp_try_rmem_schedule. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, u64);
	__type(value, u64);
} entered SEC(".maps");

static __always_inline void count_if_clamped(void *counter, struct sock *sk)
{
	u32 zero = 0;
	u64 *count;

	if (filter_port && BPF_CORE_READ(sk, __sk_common.skc_num) != filter_port)
		return;
	if (BPF_CORE_READ((struct tcp_sock *)sk, rcv_ssthresh) >= CLAMP_BELOW)
		return;
	count = bpf_map_lookup_elem(counter, &zero);
	if (count)
		__sync_fetch_and_add(count, 1);
}

SEC("fexit/tcp_try_rmem_schedule")
int BPF_PROG(fentry__tcp_try_rmem_schedule, struct sock *sk, struct sk_buff *skb, unsigned int size,
	     int ret)
{
	count_if_clamped(&tcp_window_clamps_total, sk);
	return 0;
}

SEC("kprobe/tcp_try_rmem_schedule")
int BPF_KPROBE(kprobe__tcp_try_rmem_schedule, struct sock *sk)
{
	u64 tid = bpf_get_current_pid_tgid(), skp = (u64)sk;

	update_map(&entered, &tid, &skp, BPF_ANY);
	return 0;
}

SEC("kretprobe/tcp_try_rmem_schedule")
int BPF_KRETPROBE(kprobe__tcp_try_rmem_schedule_ret)
{
	u64 tid = bpf_get_current_pid_tgid(), *skp;
	struct sock *sk;

	skp = bpf_map_lookup_elem(&entered, &tid);
	if (!skp)
		return 0;
	sk = (struct sock *)*skp;
	bpf_map_delete_elem(&entered, &tid);
	count_if_clamped(&tcp_window_clamps_total, sk);
	return 0;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(tp_btf__tcp_probe, struct sock *sk, struct sk_buff *skb)
{
	count_if_clamped(&tcp_low_receive_window_segments_total, sk);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
