// SPDX-License-Identifier: GPL-2.0
/*
 * One counter per map type, all counting the same event: getppid(2) by one
 * process (targ_tgid). The test checks that every map shape reads back as the
 * number of calls it made.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "maps.bpf.h"

const volatile u32 targ_tgid = 0;

/* Keyed by tgid (label `tgid`). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} hash_calls_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} lru_hash_calls_total SEC(".maps");

/* No labels: ebpf_exporter reads key u32 0 of a 1-entry array. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} array_calls_total SEC(".maps");

/*
 * No labels on a 2-entry per-CPU array: only key 0 is the metric, so the
 * test also bumps key 1 (by 1000 per call) to show it is not read.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} percpu_array_calls_total SEC(".maps");

/* Keyed by tgid; CPUs are summed (no `cpu` label). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} percpu_hash_calls_total SEC(".maps");

/* Keyed by tgid; one series per CPU (a `cpu` label). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} lru_percpu_hash_calls_total SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_getppid(void *ctx)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	u32 zero = 0, one = 1;

	if (tgid != targ_tgid)
		return 0;
	increment_map(&hash_calls_total, &tgid, 1);
	increment_map(&lru_hash_calls_total, &tgid, 1);
	increment_map(&array_calls_total, &zero, 1);
	increment_map(&percpu_array_calls_total, &zero, 1);
	increment_map(&percpu_array_calls_total, &one, 1000);
	increment_map(&percpu_hash_calls_total, &tgid, 1);
	increment_map(&lru_percpu_hash_calls_total, &tgid, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
