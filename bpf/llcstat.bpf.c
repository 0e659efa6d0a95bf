// SPDX-License-Identifier: GPL-2.0
/*
 * llcstat: last-level cache references and misses, by CPU.
 *
 * One hook set: hardware perf events on every online CPU, sampled at 99 Hz
 * (perf_event/type=0 PERF_TYPE_HARDWARE, config=2 CACHE_REFERENCES and
 * config=3 CACHE_MISSES). Each sample adds its sample period — the events
 * counted since the previous sample — to the CPU's slot of a per-CPU array.
 * Without a hardware PMU (most VMs) the events cannot be opened and the
 * receiver skips the program with "no hardware PMU (virtualised?)".
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "hooks.bpf.h"

HOOK_FALLBACK();

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} llc_references_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} llc_misses_total SEC(".maps");

static __always_inline int add_sample(void *map, struct bpf_perf_event_data *ctx)
{
	u32 zero = 0;
	u64 *value = bpf_map_lookup_elem(map, &zero);

	if (value)
		*value += ctx->sample_period; /* per-CPU slot: no other writer */
	return 0;
}

SEC("perf_event/type=0,config=2,frequency=99")
int perf_event__llc_references(struct bpf_perf_event_data *ctx)
{
	return add_sample(&llc_references_total, ctx);
}

SEC("perf_event/type=0,config=3,frequency=99")
int perf_event__llc_misses(struct bpf_perf_event_data *ctx)
{
	return add_sample(&llc_misses_total, ctx);
}

char LICENSE[] SEC("license") = "GPL";
