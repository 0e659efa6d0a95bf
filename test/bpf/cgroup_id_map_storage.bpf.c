// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup_id_map with `type: cgrp_storage` (test/cgroups/cgroup-id-map.test.ts),
 * as ebpf_exporter's examples/cgroup_id_map_cgrp_storage.bpf.c: the agent sets
 * the storage of matching cgroups (BPF_MAP_TYPE_CGRP_STORAGE, Linux 6.2); the
 * program counts getppid(2) calls by cgroup id when the caller's cgroup has it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_CGRP_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} cgroup_id_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} getppid_storage_matched_calls_total SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_getppid_storage(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 id, one = 1, *v;

	if (!bpf_cgrp_storage_get(&cgroup_id_map, task->cgroups->dfl_cgrp, 0, 0))
		return 0;
	id = bpf_get_current_cgroup_id();
	v = bpf_map_lookup_elem(&getppid_storage_matched_calls_total, &id);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&getppid_storage_matched_calls_total, &id, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
