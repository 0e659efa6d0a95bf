// SPDX-License-Identifier: GPL-2.0
/*
 * Test object for ebpf_exporter's /maps debug endpoint
 * (test/e2e/dropin-flags.e2e.test.ts): an array of 1500 slots — more than the
 * dump shows of one map — counting getppid(2) calls in slot tgid % 1500.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define SLOTS 1500

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} slot_calls_total SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_slot(void *ctx)
{
	__u32 slot = (bpf_get_current_pid_tgid() >> 32) % SLOTS;
	__u64 *v = bpf_map_lookup_elem(&slot_calls_total, &slot);

	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
