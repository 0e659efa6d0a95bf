// SPDX-License-Identifier: GPL-2.0
/*
 * cachestat: page cache operations.
 *
 * Hook sets (see hooks.bpf.h), in order of preference:
 *   fentry  — fentry on folio_mark_accessed (cache_access),
 *             mark_buffer_dirty (cache_writes), filemap_add_folio
 *             (page_add_lru), and tp_btf writeback_dirty_folio
 *             (page_mark_dirties: the trace call inside
 *             folio_account_dirtied(), which is not traceable itself).
 *   kprobe  — the same functions through kprobes; raw_tp for the tracepoint.
 *   Both count calls into page_cache_ops_total{op}, ebpf_exporter's metric.
 *   Folio-era targets (kernel 5.16+): mark_page_accessed() and
 *   add_to_page_cache_lru() are thin wrappers that most callers no longer
 *   use, so probing them would miss the file read path.
 *
 *   tp_btf  — no "cache access" tracepoint exists. What the tracepoints do
 *             offer goes into a different metric, page_cache_pages_total{op},
 *             counted in pages (a folio event counts 1 << order pages):
 *             added (mm_filemap_add_to_page_cache), dirtied
 *             (writeback_dirty_folio), removed
 *             (mm_filemap_delete_from_page_cache), and buffer_dirtied
 *             (block_dirty_buffer, in buffer heads: one per block).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"
#include "hooks.bpf.h"

HOOK_FALLBACK();

/* page_cache_ops_total keys (the `op` label's static_map). */
#define OP_CACHE_ACCESS 0
#define OP_CACHE_WRITES 1
#define OP_PAGE_ADD_LRU 2
#define OP_PAGE_MARK_DIRTIES 3

/* page_cache_pages_total keys. */
#define PAGES_ADDED 0
#define PAGES_DIRTIED 1
#define PAGES_REMOVED 2
#define BUFFERS_DIRTIED 3

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, u8);
	__type(value, u64);
} page_cache_ops_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, u8);
	__type(value, u64);
} page_cache_pages_total SEC(".maps");

static __always_inline void op(u8 key)
{
	increment_map(&page_cache_ops_total, &key, 1);
}

static __always_inline void pages(u8 key, u64 n)
{
	increment_map(&page_cache_pages_total, &key, n);
}

/* Linux 6.1's folio kept its order in its own byte (moved into _flags_1 in 6.6). */
struct folio___order_byte {
	unsigned char _folio_order;
} __attribute__((preserve_access_index));

/* folio_nr_pages() */
static __always_inline u64 folio_pages(struct folio *folio)
{
	unsigned long flags = 0;
	u64 order;

	/*
	 * The flags word comes first in every layout; its type changed from
	 * unsigned long to memdesc_flags_t (6.17), so it is read raw.
	 */
	bpf_probe_read_kernel(&flags, sizeof(flags), folio);
	if (!(flags & (1UL << bpf_core_enum_value(enum pageflags, PG_head))))
		return 1;
	if (bpf_core_field_exists(((struct folio___order_byte *)0)->_folio_order))
		order = BPF_CORE_READ((struct folio___order_byte *)folio, _folio_order);
	else
		order = BPF_CORE_READ(folio, _flags_1) & 0xff;
	return 1ULL << (order & 31);
}

SEC("fentry/folio_mark_accessed")
int BPF_PROG(fentry__folio_mark_accessed)
{
	op(OP_CACHE_ACCESS);
	return 0;
}

SEC("fentry/mark_buffer_dirty")
int BPF_PROG(fentry__mark_buffer_dirty)
{
	op(OP_CACHE_WRITES);
	return 0;
}

SEC("fentry/filemap_add_folio")
int BPF_PROG(fentry__filemap_add_folio)
{
	op(OP_PAGE_ADD_LRU);
	return 0;
}

SEC("tp_btf/writeback_dirty_folio")
int BPF_PROG(fentry__writeback_dirty_folio)
{
	op(OP_PAGE_MARK_DIRTIES);
	return 0;
}

SEC("kprobe/folio_mark_accessed")
int BPF_KPROBE(kprobe__folio_mark_accessed)
{
	op(OP_CACHE_ACCESS);
	return 0;
}

SEC("kprobe/mark_buffer_dirty")
int BPF_KPROBE(kprobe__mark_buffer_dirty)
{
	op(OP_CACHE_WRITES);
	return 0;
}

SEC("kprobe/filemap_add_folio")
int BPF_KPROBE(kprobe__filemap_add_folio)
{
	op(OP_PAGE_ADD_LRU);
	return 0;
}

SEC("raw_tp/writeback_dirty_folio")
int BPF_PROG(kprobe__writeback_dirty_folio)
{
	op(OP_PAGE_MARK_DIRTIES);
	return 0;
}

SEC("tp_btf/mm_filemap_add_to_page_cache")
int BPF_PROG(tp_btf__add_to_page_cache, struct folio *folio)
{
	pages(PAGES_ADDED, folio_pages(folio));
	return 0;
}

SEC("tp_btf/mm_filemap_delete_from_page_cache")
int BPF_PROG(tp_btf__delete_from_page_cache, struct folio *folio)
{
	pages(PAGES_REMOVED, folio_pages(folio));
	return 0;
}

SEC("tp_btf/writeback_dirty_folio")
int BPF_PROG(tp_btf__writeback_dirty_folio, struct folio *folio, struct address_space *mapping)
{
	pages(PAGES_DIRTIED, folio_pages(folio));
	return 0;
}

SEC("tp_btf/block_dirty_buffer")
int BPF_PROG(tp_btf__block_dirty_buffer, struct buffer_head *bh)
{
	pages(BUFFERS_DIRTIED, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
