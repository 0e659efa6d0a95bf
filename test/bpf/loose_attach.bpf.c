// SPDX-License-Identifier: GPL-2.0
/*
 * Test object for loose attachment (test/e2e/dropin.e2e.test.ts): two
 * programs that both load; one attaches (sys_enter_getppid), the other names
 * a tracepoint no kernel has, so its attach fails with ENOENT everywhere.
 * Without --config.strict the check passes and must say which one did not attach.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} loose_calls_total SEC(".maps");

static int count(void)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&loose_calls_total, &zero);

	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_getppid(void *ctx)
{
	return count();
}

SEC("tracepoint/syscalls/sys_enter_ec_no_such_call")
int count_nothing(void *ctx)
{
	return count();
}

char LICENSE[] SEC("license") = "GPL";
