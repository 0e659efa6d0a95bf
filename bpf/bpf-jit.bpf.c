// SPDX-License-Identifier: GPL-2.0
/*
 * bpf-jit: memory the BPF JIT holds.
 *
 * Hook sets (hooks.bpf.h), in order of preference:
 *   kprobe   — kretprobe on bpf_jit_charge_modmem (every JIT allocation),
 *              plus a syscall program test-run at every collection: reads the
 *              kernel's bpf_jit_current counter (kaddrs: [bpf_jit_current])
 *              into bpf_jit_pages_currently_allocated
 *   syscall  — the same counter, read by a program the receiver test-runs at
 *              every collection (no kprobes needed, still needs the symbol)
 *   iter     — where bpf_jit_current is not in /proc/kallsyms: a bpf_prog
 *              iterator, run at every collection, sums the JITed code size of
 *              every loaded program into bpf_jit_program_bytes. A different
 *              quantity (no classic BPF, no allocator rounding), so a different
 *              metric.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "hooks.bpf.h"
#include "kaddrs.bpf.h"

HOOK_FALLBACK();
KADDR(bpf_jit_current);
HOOK_NEEDS_KADDR(kprobe, bpf_jit_current);
HOOK_NEEDS_KADDR(syscall, bpf_jit_current);

/* Subprograms summed per program; programs with more are rare and undercounted. */
#define MAX_FUNCS 64

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} bpf_jit_pages_currently_allocated SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} bpf_jit_program_bytes SEC(".maps");

/* The iterator's running sum within one pass; published at the pass's end. */
static u64 pass_bytes;

static __always_inline int read_jit_current(void)
{
	u32 zero = 0;
	s64 current = 0;
	u64 *value;

	if (!kaddr_bpf_jit_current)
		return 0;
	bpf_probe_read_kernel(&current, sizeof(current), (void *)kaddr_bpf_jit_current);
	value = bpf_map_lookup_elem(&bpf_jit_pages_currently_allocated, &zero);
	if (value)
		*value = current < 0 ? 0 : current;
	return 0;
}

/*
 * Every JIT allocation charges bpf_jit_current through bpf_jit_charge_modmem()
 * (programs via bpf_jit_binary_alloc() or, since the prog pack allocator of
 * 5.18, bpf_jit_binary_pack_alloc(); trampolines too): read the counter as it
 * returns. Frees do not pass here, so the kprobe set also test-runs a syscall
 * program at every collection (below): the gauge is current at each read and
 * has a value from the first collection on.
 */
SEC("kretprobe/bpf_jit_charge_modmem")
int kprobe__bpf_jit_charge_modmem(void *ctx)
{
	return read_jit_current();
}

SEC("syscall")
int kprobe__read_jit_current(void *ctx)
{
	return read_jit_current();
}

SEC("syscall")
int syscall__read_jit_current(void *ctx)
{
	return read_jit_current();
}

SEC("iter/bpf_prog")
int iter__bpf_prog(struct bpf_iter__bpf_prog *ctx)
{
	struct bpf_prog *prog = ctx->prog;
	struct bpf_prog **funcs;
	u32 zero = 0, func_cnt, i;
	u64 *value, bytes = 0;

	if (!prog) {
		/* End of the pass (also seq_num 0 when the pass saw no program). */
		value = bpf_map_lookup_elem(&bpf_jit_program_bytes, &zero);
		if (value)
			*value = pass_bytes;
		return 0;
	}
	if (ctx->meta->seq_num == 0)
		pass_bytes = 0;
	func_cnt = BPF_CORE_READ(prog, aux, func_cnt);
	if (func_cnt == 0) {
		bytes = BPF_CORE_READ(prog, jited_len);
	} else {
		/* A program with subprograms: each is JITed separately (func[0] is the main one). */
		funcs = BPF_CORE_READ(prog, aux, func);
		for (i = 0; i < MAX_FUNCS && i < func_cnt; i++) {
			struct bpf_prog *f = NULL;

			bpf_probe_read_kernel(&f, sizeof(f), &funcs[i]);
			if (f)
				bytes += BPF_CORE_READ(f, jited_len);
		}
	}
	pass_bytes += bytes;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
