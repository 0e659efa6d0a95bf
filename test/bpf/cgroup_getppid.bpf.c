// SPDX-License-Identifier: GPL-2.0
/*
 * Test object for the cgroup churn test (test/cgroups/churn-bpf.test.ts):
 * getppid(2) calls counted by the caller's cgroup v2 id
 * (bpf_get_current_cgroup_id()), read through the ebpf receiver with
 * test/bpf/cgroup_getppid.yaml (labels: uint → cgroup).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u64);
} cgroup_getppid_calls_total SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_getppid(void *ctx)
{
	__u64 id = bpf_get_current_cgroup_id();
	__u64 one = 1, *v;

	v = bpf_map_lookup_elem(&cgroup_getppid_calls_total, &id);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return 0;
	}
	/* BPF_NOEXIST: a racing first call on another CPU adds to its entry instead. */
	if (bpf_map_update_elem(&cgroup_getppid_calls_total, &id, &one, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(&cgroup_getppid_calls_total, &id);
		if (v)
			__sync_fetch_and_add(v, 1);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
