// SPDX-License-Identifier: GPL-2.0
/*
 * Test object for map-full accounting (test/cgroups/map-full.test.ts): getpid(2)
 * calls made in cgroup `targ_cgroup`, counted by thread id in a 4-entry hash, so a
 * fifth thread's update fails. Every call is also counted in `tiny_calls_seen_total`,
 * so the test checks seen = sum(map) + map_update_failures (maps.bpf.h) exactly.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "maps.bpf.h"

const volatile __u64 targ_cgroup = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u64);
	__type(value, __u64);
} tiny_getpid_calls_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} tiny_calls_seen_total SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int count_getpid(void *ctx)
{
	__u64 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 zero = 0;
	__u64 *seen;

	if (bpf_get_current_cgroup_id() != targ_cgroup)
		return 0;
	seen = bpf_map_lookup_elem(&tiny_calls_seen_total, &zero);
	if (seen)
		__sync_fetch_and_add(seen, 1);
	increment_map(&tiny_getpid_calls_total, &tid, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
