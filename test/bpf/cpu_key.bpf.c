// SPDX-License-Identifier: GPL-2.0
/*
 * llcstat's shape without its PMU: a plain hash map keyed by the CPU number
 * (u32), so its `cpu` label is an ordinary key label, as ebpf_exporter reads
 * it. Counts getppid(2) by one process (targ_tgid), by the CPU it ran on.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "maps.bpf.h"

const volatile u32 targ_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, u32);
	__type(value, u64);
} getppid_by_cpu_total SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_getppid_by_cpu(void *ctx)
{
	u32 cpu = bpf_get_smp_processor_id();

	if (bpf_get_current_pid_tgid() >> 32 != targ_tgid)
		return 0;
	increment_map(&getppid_by_cpu_total, &cpu, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
