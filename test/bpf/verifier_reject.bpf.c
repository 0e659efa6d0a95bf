// SPDX-License-Identifier: GPL-2.0
/*
 * A program the verifier must reject: it dereferences a map lookup without
 * checking it for NULL. Used by the addon's error-path tests.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	/*
	 * A hash, not an array: since 6.13-ish the verifier knows a lookup in an
	 * array map with a constant in-bounds key cannot fail, and accepts this.
	 */
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} slots SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int reject_null_deref(void *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&slots, &key);

	/* Missing `if (!v) return 0;` on purpose. */
	*v += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
