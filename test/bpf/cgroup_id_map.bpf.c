// SPDX-License-Identifier: GPL-2.0
/*
 * Test object for cgroup_id_map (test/cgroups/cgroup-id-map.test.ts), shaped
 * like ebpf_exporter's examples/cgroup_id_map.bpf.c: getppid(2) calls by the
 * caller's cgroup v2 id, counted in one map when the agent put that id in
 * `cgroup_id_map` (the cgroups whose path matches the config's regexps) and
 * in another when it did not.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* Filled and kept current by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} cgroup_id_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} getppid_matched_calls_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} getppid_not_matched_calls_total SEC(".maps");

static void increment(void *map, __u64 id)
{
	__u64 one = 1, *v;

	v = bpf_map_lookup_elem(map, &id);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return;
	}
	if (bpf_map_update_elem(map, &id, &one, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(map, &id);
		if (v)
			__sync_fetch_and_add(v, 1);
	}
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_getppid(void *ctx)
{
	__u64 id = bpf_get_current_cgroup_id();

	if (bpf_map_lookup_elem(&cgroup_id_map, &id))
		increment(&getppid_matched_calls_total, id);
	else
		increment(&getppid_not_matched_calls_total, id);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
