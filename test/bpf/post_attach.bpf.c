// SPDX-License-Identifier: GPL-2.0
/* Counts calls of the agent's post-attach mark: 1 after the agent started. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} post_attach_marks_total SEC(".maps");

SEC("uprobe//proc/self/exe:post_attach_mark")
int post_attach_mark(void *ctx)
{
	u32 zero = 0;
	u64 *count = bpf_map_lookup_elem(&post_attach_marks_total, &zero);

	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
