// SPDX-License-Identifier: GPL-2.0
/*
 * Test object for the map-size bounds (test/reliability/hostile-configs): a counter map of
 * 16,777,216 entries, over the 1,048,576 a metric may read (LIMITS.mapEntries), not
 * preallocated, and a 1 GiB ring buffer, over the 256 MiB a ring the agent drains may have
 * (LIMITS.ringBytes). The agent refuses either before loading.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 24);
	__type(key, __u32);
	__type(value, __u64);
} huge_getpid_calls_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 30);
} huge_ring SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int count_getpid(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u64 one = 1, *v;

	v = bpf_map_lookup_elem(&huge_getpid_calls_total, &pid);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&huge_getpid_calls_total, &pid, &one, BPF_NOEXIST);
	bpf_ringbuf_output(&huge_ring, &pid, sizeof(pid), 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
