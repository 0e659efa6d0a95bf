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

/*
 * Counter slots: a direct-mapped cache of u64-keyed counters, in front of a hash
 * map, for the hottest hooks. An array's lookup is inlined by the verifier (no
 * helper call) and a free slot is claimed with one compare-and-swap, so a key
 * that has its slot costs about what an array counter costs; a hash map lookup is
 * a call (~25 ns more per event on an AMD EPYC with SRSO return thunks, bench/README.md).
 * Declare the slots as a BPF_MAP_TYPE_ARRAY of `struct counter_slot` with
 * 1 << bits entries. The metric reads both maps, summed: the hash map's
 * definition and, repeated with the same name, help and labels,
 *   map: <slots>, key: { offset: 0, size: 8 }, value: { offset: 8, size: 8 }
 * (the receiver's README, "Keys in values"). A slot is never freed: a key whose
 * slot another key holds is counted in the hash map, for as long as it lives.
 */
struct counter_slot {
	__u64 key;	/* 0: free */
	__u64 count;
};

/* The ARRAY of 1 << bits counter slots `name` that increment_slot counts in. */
#define COUNTER_SLOTS(name, bits)					\
	struct {							\
		__uint(type, BPF_MAP_TYPE_ARRAY);			\
		__uint(max_entries, 1 << (bits));			\
		__type(key, u32);					\
		__type(value, struct counter_slot);			\
	} name SEC(".maps")

/*
 * Add `delta` to the counter of `key`: in its slot of `slots` (1 << bits
 * entries, 1 <= bits <= 31) when the slot is free or holds `key`, else (or for
 * key 0, which marks a free slot) in `map` with increment_map (a full map is
 * counted in map_update_failures). The slot is Fibonacci hashing of the key's
 * low 32 bits (kernel addresses differ there); 32-bit arithmetic also makes a
 * scalar of a BTF pointer field, which Linux 6.18 types as untrusted memory (a
 * spilled u32 of such a pointer is "invalid size of register spill").
 */
static __always_inline int increment_slot(void *slots, __u32 bits, void *map, __u64 key, __u64 delta)
{
	__u32 i = ((__u32)key * 2654435769u) >> (32 - bits);
	struct counter_slot *slot = bpf_map_lookup_elem(slots, &i);

	if (slot && key) {
		__u64 held = slot->key;

		if (!held)
			held = __sync_val_compare_and_swap(&slot->key, 0, key) ?: key;
		if (held == key) {
			__sync_fetch_and_add(&slot->count, delta);
			return 0;
		}
	}
	return increment_map(map, &key, delta);
}

#endif /* EBPF_COLLECTOR_MAPS_BPF_H */
