// SPDX-License-Identifier: GPL-2.0
/*
 * uprobe: libc malloc() calls, by the caller's cgroup (v2 id).
 *
 * One hook only: a uprobe on libc.so.6's malloc (libbpf resolves the library
 * path). uprobes need no kprobe support in the kernel, so this runs wherever
 * uprobes do. Every malloc in every process passes here: it costs a few
 * hundred nanoseconds per call on busy allocators.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "maps.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, u64);
	__type(value, u64);
} libc_malloc_calls_total SEC(".maps");

SEC("uprobe/libc.so.6:malloc")
int BPF_UPROBE(do_count)
{
	u64 cgroup_id = bpf_get_current_cgroup_id();

	increment_map(&libc_malloc_calls_total, &cgroup_id, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
