// SPDX-License-Identifier: GPL-2.0
/*
 * accept-latency: how long TCP connections wait before the application
 * accepts them, by listening port (exp2 histogram of microseconds).
 *
 * Hook sets (see hooks.bpf.h), in order of preference:
 *   kprobe      — accept_latency_seconds: from the SYN (the request sock is
 *                 hashed, inet_csk_reqsk_queue_hash_add) to inet_csk_accept
 *                 returning the child. The request's start moves to its child
 *                 when the handshake completes (inet_csk_complete_hashdance),
 *                 so the end finds it by the child sock's pointer.
 *   tp_btf,
 *   tracepoint  — accept_queue_wait_seconds: from the handshake's completion
 *                 (the child's SYN_RECV → ESTABLISHED, sock:inet_sock_set_state)
 *                 to the accept4()/accept() syscall returning its fd. It starts
 *                 one round trip later than the kprobe set (pure accept-queue
 *                 wait), and misses accepts that bypass those syscalls
 *                 (io_uring) — hence its own metric.
 *
 * Every set also forgets a port when a listener on it closes (the
 * sock:inet_sock_set_state tracepoint, TCP_LISTEN → TCP_CLOSE): its keys, every
 * slot, leave both histograms, so ephemeral listeners (tests, CI, port 0) do
 * not fill the maps. Two listeners on one port (SO_REUSEPORT, or v4 and v6):
 * the first to close clears the port and the other's series start again from
 * zero (a counter reset) — whether another listener remains is not known
 * cheaply here, and keeping the keys until the last one closes would need a
 * per-port listener count that misses listeners opened before the program.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "maps.bpf.h"
#include "bits.bpf.h"
#include "hooks.bpf.h"

HOOK_FALLBACK();

#define MAX_SLOT 26
#define AF_INET_ 2
#define AF_INET6_ 10
#define IPPROTO_TCP_ 6
#define TCP_ESTABLISHED_ 1
#define TCP_SYN_RECV_ 3
#define TCP_CLOSE_ 7
#define TCP_LISTEN_ 10

struct latency_key {
	u64 port; /* local (listening) port, host order */
	u64 slot; /* MAX_SLOT + 1 holds the sum */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct latency_key);
	__type(value, u64);
} accept_latency_seconds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct latency_key);
	__type(value, u64);
} accept_queue_wait_seconds SEC(".maps");

/* Start times by sock pointer: a request sock (kprobe set, until its child
 * is queued), then the child sock. LRU: connections reset in the queue or
 * never accepted cannot pin entries. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, u64);
	__type(value, u64);
} start SEC(".maps");

static __always_inline void record(void *hist, struct sock *sk)
{
	u64 key = (u64)sk, *ts, now = bpf_ktime_get_ns(), us;
	struct latency_key lk = {};

	ts = bpf_map_lookup_elem(&start, &key);
	if (!ts)
		return;
	us = now > *ts ? (now - *ts) / 1000 : 0;
	bpf_map_delete_elem(&start, &key);
	lk.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	lk.slot = exp2_slot(us, MAX_SLOT);
	increment_map(hist, &lk, 1);
	lk.slot = HIST_SUM_SLOT(MAX_SLOT);
	increment_map(hist, &lk, us);
}

/* ---- kprobe set: SYN → inet_csk_accept ---- */

/* 6.1: void (struct sock *sk, struct request_sock *req, unsigned long timeout);
 * 6.18: bool (struct sock *sk, struct request_sock *req). The request is the
 * second argument on both. */
SEC("kprobe/inet_csk_reqsk_queue_hash_add")
int BPF_KPROBE(kprobe__inet_csk_reqsk_queue_hash_add, struct sock *sk, struct request_sock *req)
{
	u64 key = (u64)req, ts = bpf_ktime_get_ns();

	update_map(&start, &key, &ts, BPF_ANY);
	return 0;
}

/*
 * struct sock *inet_csk_complete_hashdance(struct sock *sk, struct sock *child,
 * struct request_sock *req, bool own_req), the same on 6.1 and 6.18: the
 * handshake is complete and `child` goes to the accept queue; hand the start
 * over to it. (Not inet_csk_reqsk_queue_add, its callee in the same file: a
 * kprobe there saw no TCP connection on Debian's 6.1 — inlined, presumably.)
 */
SEC("kprobe/inet_csk_complete_hashdance")
int BPF_KPROBE(kprobe__inet_csk_complete_hashdance, struct sock *sk, struct sock *child,
	       struct request_sock *req, bool own_req)
{
	u64 rkey = (u64)req, ckey = (u64)child, *ts, t;

	ts = bpf_map_lookup_elem(&start, &rkey);
	if (!ts)
		return 0;
	t = *ts;
	bpf_map_delete_elem(&start, &rkey);
	/* Another CPU completed this request first: its child is the one queued. */
	if (own_req)
		update_map(&start, &ckey, &t, BPF_ANY);
	return 0;
}

/* The arguments changed between 6.1 and 6.18 (struct proto_accept_arg); the return value,
 * the accepted child, did not. */
SEC("kretprobe/inet_csk_accept")
int BPF_KRETPROBE(kprobe__inet_csk_accept, struct sock *newsk)
{
	if (newsk)
		record(&accept_latency_seconds, newsk);
	return 0;
}

/* ---- every set: a listener closes, its port's keys go ---- */

/* The port comes from inet_sport (kept), not skc_num: closing a listener bound
 * to port 0 releases the port (inet_put_port zeroes skc_num) before the state
 * changes. */
static __always_inline void forget_port(u16 port)
{
	struct latency_key lk = { .port = port };

	for (u32 slot = 0; slot <= HIST_SUM_SLOT(MAX_SLOT); slot++) {
		lk.slot = slot;
		bpf_map_delete_elem(&accept_latency_seconds, &lk);
		bpf_map_delete_elem(&accept_queue_wait_seconds, &lk);
	}
}

static __always_inline bool listener_closed(int oldstate, int newstate, u16 protocol)
{
	return protocol == IPPROTO_TCP_ && oldstate == TCP_LISTEN_ && newstate == TCP_CLOSE_;
}

/* The kprobe set's own: the classic tracepoint (any kernel with kprobes has it). */
SEC("tracepoint/sock/inet_sock_set_state")
int kprobe__inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (listener_closed(ctx->oldstate, ctx->newstate, ctx->protocol))
		forget_port(ctx->sport);
	return 0;
}

/* ---- fallback sets: handshake completion → accept syscall ---- */

static __always_inline void on_state(const void *skp, int oldstate, int newstate, u16 protocol, u16 sport)
{
	u64 key = (u64)skp, ts;

	if (protocol != IPPROTO_TCP_)
		return;
	if (listener_closed(oldstate, newstate, protocol)) {
		forget_port(sport);
	} else if (oldstate == TCP_SYN_RECV_ && newstate == TCP_ESTABLISHED_) {
		ts = bpf_ktime_get_ns();
		update_map(&start, &key, &ts, BPF_ANY);
	} else if (newstate == TCP_CLOSE_) {
		bpf_map_delete_elem(&start, &key);
	}
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tp_btf__inet_sock_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	on_state(sk, oldstate, newstate, BPF_CORE_READ(sk, sk_protocol),
		 bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport)));
	return 0;
}

SEC("tracepoint/sock/inet_sock_set_state")
int tracepoint__inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	/* sport: ntohs(inet_sport), host order. */
	on_state(ctx->skaddr, ctx->oldstate, ctx->newstate, ctx->protocol, ctx->sport);
	return 0;
}

/* The sock behind file descriptor `fd` of the current task, or NULL. */
static __always_inline struct sock *sock_of_fd(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file = NULL;
	struct socket *sock;

	if (!fdt || fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return NULL;
	return BPF_CORE_READ(sock, sk);
}

static __always_inline int on_accept_exit(long ret)
{
	struct sock *sk;

	if (ret < 0)
		return 0;
	sk = sock_of_fd(ret);
	if (sk)
		record(&accept_queue_wait_seconds, sk);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int tp_btf__sys_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int tp_btf__sys_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int tracepoint__sys_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int tracepoint__sys_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
