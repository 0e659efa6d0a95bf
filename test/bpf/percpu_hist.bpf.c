// SPDX-License-Identifier: GPL-2.0
/*
 * Per-CPU exp2 histogram of write(2) sizes to one fd of one process
 * (targ_tgid, targ_fd), and a per-CPU count of those writes. The test reads
 * the histogram twice: by CPU (a `cpu` label before the bucket) and summed.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "maps.bpf.h"
#include "bits.bpf.h"

#define MAX_SLOT 16

const volatile u32 targ_tgid = 0;
const volatile s32 targ_fd = -1;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MAX_SLOT + 2);
	__type(key, u64);
	__type(value, u64);
} write_size_bytes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} writes_total SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_write")
int count_write(struct trace_event_raw_sys_enter *ctx)
{
	u64 size = ctx->args[2];
	u64 slot, sum_slot = HIST_SUM_SLOT(MAX_SLOT);
	u32 zero = 0;

	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid || (s32)ctx->args[0] != targ_fd)
		return 0;
	slot = exp2_slot(size, MAX_SLOT);
	increment_map(&write_size_bytes, &slot, 1);
	increment_map(&write_size_bytes, &sum_slot, size);
	increment_map(&writes_total, &zero, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
