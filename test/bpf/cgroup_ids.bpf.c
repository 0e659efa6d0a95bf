// SPDX-License-Identifier: GPL-2.0
/*
 * Test object for the cgroup processors (test/cgroups/kubelet.test.ts): the
 * cgroup v2 id of every process as it exits, by tgid, so the test can compare
 * what BPF sees (bpf_get_current_cgroup_id()) with the cgroup directories'
 * inodes. The test's processes exit inside the cgroups it made.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} exit_cgroup_ids SEC(".maps");

SEC("tracepoint/sched/sched_process_exit")
int record_exit_cgroup(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	__u64 id;

	if ((__u32)pid_tgid != tgid)
		return 0; /* threads: the process's main thread is enough */
	id = bpf_get_current_cgroup_id();
	bpf_map_update_elem(&exit_cgroup_ids, &tgid, &id, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
