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
 * exp2 histogram slot of `v` for ebpf_exporter's bucket layout: slot k counts
 * values in [2^(k-1), 2^k) (slot 0 counts 0 and 1 falls in slot 1... see
 * below), clamped to `max_slot`. ebpf_exporter's exp2 buckets have upper bound
 * 2^k for slot k, so slot = ceil(log2(v)): 0 → 0, 1 → 0, 2 → 1, 3..4 → 2.
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
