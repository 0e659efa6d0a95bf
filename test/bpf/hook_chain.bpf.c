// SPDX-License-Identifier: GPL-2.0
/*
 * Test program for hook fallback: getppid() calls of one process, counted
 * through three alternative hook sets. On the development kernel fentry fails
 * to load (EPERM) and kprobe fails to attach (ENOENT); tracepoint works.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "maps.bpf.h"
#include "hooks.bpf.h"

HOOK_FALLBACK();

const volatile u32 targ_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} getppid_calls_total SEC(".maps");

static __always_inline void count(void)
{
	u32 zero = 0;
	u64 *v;

	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid)
		return;
	v = bpf_map_lookup_elem(&getppid_calls_total, &zero);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("fentry/__do_sys_getppid")
int BPF_PROG(fentry__getppid)
{
	count();
	return 0;
}

SEC("kprobe/__do_sys_getppid")
int BPF_KPROBE(kprobe__getppid)
{
	count();
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int tracepoint__getppid(void *ctx)
{
	count();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
