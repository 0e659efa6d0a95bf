// SPDX-License-Identifier: GPL-2.0
/*
 * Counter slots (maps.bpf.h increment_slot) with too few slots: write(2) calls
 * of one process to the fds targ_fd .. targ_fd + 15, counted by fd - targ_fd
 * (so key 0 occurs: it always goes to the hash map). Four slots for up to 16
 * keys: some keys count in a slot, the rest in the hash map; the metric sums both.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "maps.bpf.h"

const volatile u32 targ_tgid = 0;
const volatile s32 targ_fd = -1;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, u64);
	__type(value, u64);
} writes_total SEC(".maps");

#define SLOT_BITS 2
COUNTER_SLOTS(write_slots, SLOT_BITS);

SEC("tracepoint/syscalls/sys_enter_write")
int count_write(struct trace_event_raw_sys_enter *ctx)
{
	s64 key = (s32)ctx->args[0] - targ_fd;

	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid || key < 0 || key >= 16)
		return 0;
	increment_slot(&write_slots, SLOT_BITS, &writes_total, key, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
