// SPDX-License-Identifier: GPL-2.0
/*
 * Test object for event streams (src/receivers/ebpf/events*.test.ts). Fires
 * on getpgid(targ_marker) only (an invalid pid nobody else asks for), from
 * process targ_tgid (0 = any process, for load generators in a child).
 *
 * Each call emits, as targ_mode asks:
 *   1: a struct event_test_rec into the ring buffer `events` (4 MiB)
 *   2: the same record into the perf event array `test_events_total`
 *   4: a span record into the ring buffer `spans`
 * seq counts the calls of this object (one global counter), so tests check
 * order and completeness.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "events.bpf.h"

/* Defaults a wrapper may change (span_marker.bpf.c: for configs without globals). */
#ifndef TARG_MARKER_DEFAULT
#define TARG_MARKER_DEFAULT 0
#endif
#ifndef TARG_MODE_DEFAULT
#define TARG_MODE_DEFAULT 1
#endif

const volatile __u32 targ_tgid = 0;
const volatile __u64 targ_marker = TARG_MARKER_DEFAULT;
const volatile __u32 targ_mode = TARG_MODE_DEFAULT;

EVENT_RING(events, 4 * 1024 * 1024);
EVENT_RING(spans, 256 * 1024);
PERF_EVENTS(test_events_total);

struct event_test_rec {
	__u32 pid;
	__u32 seq;
	char comm[16];
	__u64 value;
	__u64 ts;
};

struct span_rec {
	__u8 trace_id[16];
	__u64 parent_span_id;
	__u64 span_id;
	__u64 span_monotonic_timestamp_ns;
	__u64 span_duration_ns;
	char span_name[16];
	__u32 seq;
	__u32 pad;
};

__u32 seq_counter = 0;

SEC("tracepoint/syscalls/sys_enter_getpgid")
int on_getpgid(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 seq;

	if ((__u64)ctx->args[0] != targ_marker)
		return 0;
	if (targ_tgid && tgid != targ_tgid)
		return 0;
	seq = __sync_fetch_and_add(&seq_counter, 1);

	if (targ_mode & 1) {
		struct event_test_rec *r = event_reserve(events, sizeof(*r));

		if (r) {
			r->pid = tgid;
			r->seq = seq;
			bpf_get_current_comm(r->comm, sizeof(r->comm));
			r->value = (__u64)seq * 1000;
			r->ts = bpf_ktime_get_ns();
			event_submit(r);
		}
	}
	if (targ_mode & 2) {
		struct event_test_rec r = {};

		r.pid = tgid;
		r.seq = seq;
		bpf_get_current_comm(r.comm, sizeof(r.comm));
		r.value = (__u64)seq * 1000;
		r.ts = bpf_ktime_get_ns();
		bpf_perf_event_output(ctx, &test_events_total, BPF_F_CURRENT_CPU, &r, sizeof(r));
	}
	if (targ_mode & 4) {
		struct span_rec *s = event_reserve(spans, sizeof(*s));

		if (s) {
			__builtin_memset(s, 0, sizeof(*s));
			s->trace_id[0] = 0xab;
			s->trace_id[15] = (__u8)seq;
			s->parent_span_id = seq ? 0x1111 : 0;
			s->span_id = 0x2000 + seq;
			s->span_duration_ns = 1000000;
			s->span_monotonic_timestamp_ns = bpf_ktime_get_ns() - s->span_duration_ns;
			__builtin_memcpy(s->span_name, "getpgid", 8);
			s->seq = seq;
			event_submit(s);
		}
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
