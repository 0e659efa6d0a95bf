/* Map helpers shared by our programs. Include after vmlinux.h (struct bpf_map). */
#ifndef EBPF_COLLECTOR_MAPS_BPF_H
#define EBPF_COLLECTOR_MAPS_BPF_H

#include <bpf/bpf_helpers.h>

#ifndef EEXIST
#define EEXIST 17
#endif

/*
 * Updates that failed (a full map: -E2BIG; or -ENOMEM), by the failing map's
 * kernel id (`bpftool map show id N`). The ebpf receiver reads this map when an
 * object has it and exports `map_update_failures_total{config,map}` with the
 * map's name, so a full map is never silent. 64 slots: more maps than any
 * object of ours has.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} map_update_failures SEC(".maps");

/*
 * Count one failed update of `map` (a map of this object: the verifier reads
 * `id` through the map pointer, Linux 5.10+ for hash, LRU and array maps).
 */
static __always_inline void count_update_failure(void *map)
{
	__u32 id = ((struct bpf_map *)map)->id;
	__u64 *count, zero = 0;

	count = bpf_map_lookup_elem(&map_update_failures, &id);
	if (!count) {
		bpf_map_update_elem(&map_update_failures, &id, &zero, BPF_NOEXIST);
		count = bpf_map_lookup_elem(&map_update_failures, &id);
		if (!count)
			return;
	}
	__sync_fetch_and_add(count, 1);
}

/*
 * bpf_map_update_elem() that counts a failure in map_update_failures. -EEXIST
 * (BPF_NOEXIST on a present key) and -ENOENT (BPF_EXIST on an absent one) are
 * the caller's flags at work, not failures.
 */
static __always_inline long update_map(void *map, const void *key, const void *value, __u64 flags)
{
	long err = bpf_map_update_elem(map, key, value, flags);

	if (err && err != -EEXIST && err != -2 /* ENOENT */)
		count_update_failure(map);
	return err;
}

/*
 * Add `delta` to the u64 value at `key`, creating the entry at zero first.
 * A lost race on creation (EEXIST) is fine: the second lookup finds the
 * winner's entry. Returns 0, or -1 when the map is full (counted in
 * map_update_failures).
 */
static __always_inline int increment_map(void *map, const void *key, __u64 delta)
{
	__u64 *count, zero = 0;
	long err;

	count = bpf_map_lookup_elem(map, key);
	if (!count) {
		err = update_map(map, key, &zero, BPF_NOEXIST);
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
