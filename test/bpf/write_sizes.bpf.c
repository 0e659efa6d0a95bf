// SPDX-License-Identifier: GPL-2.0
/*
 * Test program in ebpf_exporter's style (no hook sets): an exp2 histogram of
 * write(2) sizes, optionally only for one process (targ_tgid).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "maps.bpf.h"
#include "bits.bpf.h"

#define MAX_SLOT 20

const volatile u32 targ_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SLOT + 2);
	__type(key, u64);
	__type(value, u64);
} write_size_bytes SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_write")
int count_write(struct trace_event_raw_sys_enter *ctx)
{
	u64 size = ctx->args[2];
	u64 slot, sum_slot = HIST_SUM_SLOT(MAX_SLOT);

	if (targ_tgid && (bpf_get_current_pid_tgid() >> 32) != targ_tgid)
		return 0;
	slot = exp2_slot(size, MAX_SLOT);
	increment_map(&write_size_bytes, &slot, 1);
	increment_map(&write_size_bytes, &sum_slot, size);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
