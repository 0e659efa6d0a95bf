// SPDX-License-Identifier: GPL-2.0
/*
 * Test object for the attach handlers of native/attach.cc: perf events on
 * every online CPU, XDP on a named interface, the post-attach mark, an
 * iterator and a test-run program. Each program counts into its own map.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#define MAX_CPUS 256
#define ETH_P_IP 0x0800

/* perf_event: samples per CPU (key = CPU number). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CPUS);
	__type(key, u32);
	__type(value, u64);
} samples_by_cpu SEC(".maps");

/* perf_event with period=: samples per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CPUS);
	__type(key, u32);
	__type(value, u64);
} period_samples_by_cpu SEC(".maps");

/* xdp: UDP packets to targ_udp_port seen. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} xdp_packets SEC(".maps");

/* post_attach_mark calls, run-at-collection runs, iterator passes + programs seen. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u64);
} marks SEC(".maps");

#define MARK_POST_ATTACH 0
#define MARK_TEST_RUN 1
#define MARK_ITER_PASSES 2
#define MARK_ITER_PROGS 3

const volatile u16 targ_udp_port = 0;

static __always_inline void add(void *map, u32 key, u64 delta)
{
	u64 *v = bpf_map_lookup_elem(map, &key);

	if (v)
		__sync_fetch_and_add(v, delta);
}

SEC("perf_event/type=1,config=0,frequency=1000")
int perf_cpu_clock(struct bpf_perf_event_data *ctx)
{
	u32 cpu = bpf_get_smp_processor_id();

	if (cpu < MAX_CPUS)
		add(&samples_by_cpu, cpu, 1);
	return 0;
}

/* cpu-clock counts nanoseconds: a sample every 1 ms of CPU time. */
SEC("perf_event/type=1,config=0,period=1000000")
int perf_cpu_clock_period(struct bpf_perf_event_data *ctx)
{
	u32 cpu = bpf_get_smp_processor_id();

	if (cpu < MAX_CPUS)
		add(&period_samples_by_cpu, cpu, 1);
	return 0;
}

/* Hardware cycles: fails to attach where there is no PMU. */
SEC("perf_event/type=0,config=0,frequency=99")
int perf_hw_cycles(struct bpf_perf_event_data *ctx)
{
	return 0;
}

SEC("perf_event/type=1,config=0,colour=blue")
int perf_bad_key(struct bpf_perf_event_data *ctx)
{
	return 0;
}

SEC("xdp/ectestxdp0")
int xdp_count_udp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > end || udp->dest != bpf_htons(targ_udp_port))
		return XDP_PASS;
	add(&xdp_packets, 0, 1);
	return XDP_PASS;
}

SEC("xdp/ec-no-such-if")
int xdp_missing_if(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("uprobe//proc/self/exe:post_attach_mark")
int post_attach(void *ctx)
{
	add(&marks, MARK_POST_ATTACH, 1);
	return 0;
}

SEC("syscall")
int run_at_collection(void *ctx)
{
	add(&marks, MARK_TEST_RUN, 1);
	return 0;
}

SEC("iter/bpf_prog")
int iter_progs(struct bpf_iter__bpf_prog *ctx)
{
	if (!ctx->prog) {
		add(&marks, MARK_ITER_PASSES, 1);
		return 0;
	}
	add(&marks, MARK_ITER_PROGS, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
