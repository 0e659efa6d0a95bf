// SPDX-License-Identifier: GPL-2.0
/*
 * tcp-syn-backlog: the listener's accept backlog (sk_ack_backlog: children
 * queued, not yet accepted) each time a handshake completes and a child
 * socket is created for it, as a linear histogram in steps of 50.
 *
 * Hook sets (see hooks.bpf.h), in order of preference:
 *   kprobe      — tcp_v4_syn_recv_sock / tcp_v6_syn_recv_sock: the listener's
 *                 own sk_ack_backlog, read on entry.
 *   tp_btf,
 *   tracepoint  — sock:inet_sock_set_state LISTEN → SYN_RECV, which fires
 *                 inside those same functions on the child: the child is a
 *                 fresh clone of the listener (sk_clone_lock) and still carries
 *                 its sk_ack_backlog. Same value at the same moment; it relies
 *                 on that clone detail (seen on 6.18, not a contract).
 *
 * Tunable: filter_port (host order, 0 = every listener).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "maps.bpf.h"
#include "hooks.bpf.h"

HOOK_FALLBACK();

#define BUCKET_WIDTH 50
#define MAX_SLOT 20
#define IPPROTO_TCP_ 6
#define TCP_SYN_RECV_ 3
#define TCP_LISTEN_ 10
#define ETH_P_IP_ 0x0800

const volatile u16 filter_port = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SLOT + 2);
	__type(key, u64);
	__type(value, u64);
} tcp_syn_backlog SEC(".maps");

/* `sk` is the listener or a fresh clone of it. */
static __always_inline int sample(const struct sock *sk)
{
	u64 slot;

	if (filter_port && BPF_CORE_READ(sk, __sk_common.skc_num) != filter_port)
		return 0;
	slot = BPF_CORE_READ(sk, sk_ack_backlog) / BUCKET_WIDTH;
	if (slot > MAX_SLOT)
		slot = MAX_SLOT;
	increment_map(&tcp_syn_backlog, &slot, 1);
	return 0;
}

SEC("kprobe/tcp_v4_syn_recv_sock")
int BPF_KPROBE(kprobe__tcp_v4_syn_recv_sock, const struct sock *sk)
{
	return sample(sk);
}

/* An IPv4 connection to a dual-stack IPv6 listener goes through
 * tcp_v6_syn_recv_sock into tcp_v4_syn_recv_sock: count it there only. */
SEC("kprobe/tcp_v6_syn_recv_sock")
int BPF_KPROBE(kprobe__tcp_v6_syn_recv_sock, const struct sock *sk, struct sk_buff *skb)
{
	if (BPF_CORE_READ(skb, protocol) == bpf_htons(ETH_P_IP_))
		return 0;
	return sample(sk);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tp_btf__inet_sock_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (oldstate != TCP_LISTEN_ || newstate != TCP_SYN_RECV_)
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP_)
		return 0;
	return sample(sk);
}

SEC("tracepoint/sock/inet_sock_set_state")
int tracepoint__inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->oldstate != TCP_LISTEN_ || ctx->newstate != TCP_SYN_RECV_ || ctx->protocol != IPPROTO_TCP_)
		return 0;
	return sample((const struct sock *)ctx->skaddr);
}

char LICENSE[] SEC("license") = "GPL";
