/* Event streams: ring buffers whose lost records are counted, not hidden. */
#ifndef EBPF_COLLECTOR_EVENTS_BPF_H
#define EBPF_COLLECTOR_EVENTS_BPF_H

#include <bpf/bpf_helpers.h>

/*
 * EVENT_RING(name, bytes) declares a BPF_MAP_TYPE_RINGBUF `name` and, beside
 * it, a one-slot PERCPU_ARRAY `name_drops` (u64). The receiver finds
 * `<ring>_drops` by name and reports its sum as
 * ebpf_collector_events_kernel_dropped_total{config,map=<ring>,reason="reserve"}.
 *
 * event_reserve(name, size) reserves a record or, when the ring is full,
 * counts the loss and returns NULL. event_submit(rec) submits without waking
 * the reader (BPF_RB_NO_WAKEUP): the receiver drains on a timer, which is
 * 3-4x cheaper for the traced workload than a wake-up per record. Use
 * event_submit_wakeup(rec) for rare events that should arrive at once.
 *
 * `bytes` must be a power of two and a multiple of the page size.
 */
#define EVENT_RING(name, bytes)                                                                    \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_RINGBUF);                                                \
		__uint(max_entries, bytes);                                                        \
	} name SEC(".maps");                                                                       \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                           \
		__uint(max_entries, 1);                                                            \
		__type(key, __u32);                                                                \
		__type(value, __u64);                                                              \
	} name##_drops SEC(".maps")

static __always_inline void *event_reserve_or_count(void *ring, void *drops, __u64 size)
{
	void *rec = bpf_ringbuf_reserve(ring, size, 0);

	if (!rec) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(drops, &zero);

		if (n)
			*n += 1; /* per-CPU slot: no atomic needed */
	}
	return rec;
}

#define event_reserve(name, size) event_reserve_or_count(&name, &name##_drops, size)

static __always_inline void event_submit(void *rec)
{
	bpf_ringbuf_submit(rec, BPF_RB_NO_WAKEUP);
}

static __always_inline void event_submit_wakeup(void *rec)
{
	bpf_ringbuf_submit(rec, 0);
}

/*
 * PERF_EVENTS(name) declares a BPF_MAP_TYPE_PERF_EVENT_ARRAY (ebpf_exporter's
 * `perf_event_array: true` counters read the map named as the counter).
 * Records the kernel cannot place are counted by the perf ring itself and
 * reported to user space as lost samples.
 */
#define PERF_EVENTS(name)                                                                          \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);                                       \
		__uint(key_size, sizeof(__u32));                                                   \
		__uint(value_size, sizeof(__u32));                                                 \
	} name SEC(".maps")

#endif /* EBPF_COLLECTOR_EVENTS_BPF_H */
