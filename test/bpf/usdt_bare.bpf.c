// SPDX-License-Identifier: GPL-2.0
/*
 * bpf/usdt with ebpf_exporter's spelling of the target: a bare `python3`,
 * which libbpf resolves through $PATH. No hook sets: attached loosely, as
 * ebpf_exporter's own objects are.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/usdt.bpf.h>
#include "maps.bpf.h"

const volatile u32 filter_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, char[128]);
	__type(value, u64);
} python_module_imports_total SEC(".maps");

SEC("usdt/python3:python:import__find__load__start")
int BPF_USDT(python_import, void *module_name)
{
	char module[128] = {};

	if (filter_tgid && bpf_get_current_pid_tgid() >> 32 != filter_tgid)
		return 0;
	if (bpf_probe_read_user_str(module, sizeof(module), module_name) < 0)
		return 0;
	increment_map(&python_module_imports_total, module, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
