/* Map helpers shared by our programs. */
#ifndef EBPF_COLLECTOR_MAPS_BPF_H
#define EBPF_COLLECTOR_MAPS_BPF_H

#include <bpf/bpf_helpers.h>

#ifndef EEXIST
#define EEXIST 17
#endif

/*
 * Add `delta` to the u64 value at `key`, creating the entry at zero first.
 * A lost race on creation (EEXIST) is fine: the second lookup finds the
 * winner's entry. Returns 0, or -1 when the map is full (callers that care
 * count that in their own drop counter).
 */
static __always_inline int increment_map(void *map, const void *key, __u64 delta)
{
	__u64 *count, zero = 0;
	long err;

	count = bpf_map_lookup_elem(map, key);
	if (!count) {
		err = bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
		if (err && err != -EEXIST)
			return -1;
		count = bpf_map_lookup_elem(map, key);
		if (!count)
			return -1;
	}
	__sync_fetch_and_add(count, delta);
	return 0;
}

#endif /* EBPF_COLLECTOR_MAPS_BPF_H */
