// SPDX-License-Identifier: GPL-2.0
/*
 * Programs the receiver runs at every collection (iter/ read, syscall
 * test-run), and a hook set that needs a kaddr no kernel has.
 *   count_test_runs (every set)  SEC("syscall"): test_runs_total += 1 per run
 *   iter__passes    (set iter)   SEC("iter/bpf_prog"): iterator_passes_total += 1 per pass
 *   syscall__noop   (set syscall) needs kaddr ec_no_such_symbol
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "hooks.bpf.h"
#include "kaddrs.bpf.h"

HOOK_FALLBACK();
KADDR(ec_no_such_symbol);
HOOK_NEEDS_KADDR(syscall, ec_no_such_symbol);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} test_runs_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} iterator_passes_total SEC(".maps");

static __always_inline void bump(void *map)
{
	u32 zero = 0;
	u64 *v = bpf_map_lookup_elem(map, &zero);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("syscall")
int count_test_runs(void *ctx)
{
	bump(&test_runs_total);
	return 0;
}

SEC("syscall")
int syscall__noop(void *ctx)
{
	return kaddr_ec_no_such_symbol != 0;
}

SEC("iter/bpf_prog")
int iter__passes(struct bpf_iter__bpf_prog *ctx)
{
	if (!ctx->prog)
		bump(&iterator_passes_total);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
