/* Bit helpers for histogram slots. */
#ifndef EBPF_COLLECTOR_BITS_BPF_H
#define EBPF_COLLECTOR_BITS_BPF_H

/* floor(log2(v)) for v > 0; 0 for v == 0. Branch-light, verifier friendly. */
static __always_inline __u64 log2_u64(__u64 v)
{
	__u64 r = 0, shift;

	shift = (v > 0xffffffffULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xffffULL) << 4;     v >>= shift; r |= shift;
	shift = (v > 0xffULL) << 3;       v >>= shift; r |= shift;
	shift = (v > 0xfULL) << 2;        v >>= shift; r |= shift;
	shift = (v > 0x3ULL) << 1;        v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

/*
 * exp2 histogram slot of `v`, ebpf_exporter's layout: slot k has upper bound
 * 2^k, so slot = ceil(log2(v)): 0 and 1 → 0, 2 → 1, 3..4 → 2, 5..8 → 3.
 * Values past `max_slot` are clamped into it (so +Inf equals the top bucket).
 */
static __always_inline __u64 exp2_slot(__u64 v, __u64 max_slot)
{
	__u64 slot = v > 1 ? log2_u64(v - 1) + 1 : 0;

	return slot > max_slot ? max_slot : slot;
}

/*
 * The key of the sum slot: ebpf_exporter reads the histogram's sum from the
 * slot after the last bucket (max_slot + 1).
 */
#define HIST_SUM_SLOT(max_slot) ((max_slot) + 1)

#endif /* EBPF_COLLECTOR_BITS_BPF_H */
