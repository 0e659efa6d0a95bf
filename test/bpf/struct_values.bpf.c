// SPDX-License-Identifier: GPL-2.0
/*
 * A map whose value is a struct: write(2) calls and bytes to one fd of one
 * process (targ_tgid, targ_fd), and the last size as a u32. Each field is its
 * own metric (`map:` + `value: { offset, size }`).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

const volatile u32 targ_tgid = 0;
const volatile s32 targ_fd = -1;

struct write_stats {
	u64 calls;
	u64 bytes;
	u32 last_size;
	u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, struct write_stats);
} write_stats SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_write")
int count_write(struct trace_event_raw_sys_enter *ctx)
{
	struct write_stats *s, zero = {};
	u32 key = 0;

	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid || (s32)ctx->args[0] != targ_fd)
		return 0;
	s = bpf_map_lookup_elem(&write_stats, &key);
	if (!s) {
		bpf_map_update_elem(&write_stats, &key, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&write_stats, &key);
		if (!s)
			return 0;
	}
	__sync_fetch_and_add(&s->calls, 1);
	__sync_fetch_and_add(&s->bytes, ctx->args[2]);
	s->last_size = ctx->args[2];
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
