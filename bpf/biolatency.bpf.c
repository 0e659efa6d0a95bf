// SPDX-License-Identifier: GPL-2.0
/*
 * biolatency: block I/O request latency, by disk and operation.
 *
 * A request's clock starts when it enters the block layer's queue
 * (block_rq_insert) or, for requests dispatched straight to the driver
 * without a scheduler insert, when it is issued (block_rq_issue); it stops at
 * the first block_rq_complete. The latency lands in an exp2 histogram of
 * microseconds keyed by (device, operation).
 *
 * Hook sets (see hooks.bpf.h), in order of preference:
 *   raw_tp      — raw tracepoints, keyed by the struct request pointer; the
 *                 disk and the REQ_OP_* come from the request itself.
 *   tracepoint  — the classic block tracepoints carry no request pointer: the
 *                 start is keyed by (dev, sector). A request whose start
 *                 sector changes between insert and completion (a front
 *                 merge, a partial completion) is missed, two in-flight
 *                 requests to the same sector share one start, and the
 *                 operation comes from the rwbs string, which cannot tell
 *                 write-zeroes, zone and driver operations apart ("other").
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"
#include "bits.bpf.h"
#include "hooks.bpf.h"

HOOK_FALLBACK();

#define MAX_SLOT 27
#define REQ_OP_MASK_ ((1U << 8) - 1)
/* Operation value for rwbs 'N' (tracepoint set): no REQ_OP_* uses it. */
#define OP_OTHER 255

struct bio_key {
	u32 dev;  /* new_encode_dev(MKDEV(major, first_minor)) of the disk */
	u32 op;   /* REQ_OP_* */
	u64 slot; /* histogram slot; MAX_SLOT + 1 holds the sum */
};

struct sector_key {
	u64 sector;
	u32 dev;
	u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct bio_key);
	__type(value, u64);
} bio_latency_seconds SEC(".maps");

/* Start times by request pointer (raw_tp). LRU: a request that never
 * completes (or completes while we were not attached) cannot pin an entry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, u64);
} start_by_request SEC(".maps");

/* Start times by (dev, sector) (tracepoint). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sector_key);
	__type(value, u64);
} start_by_sector SEC(".maps");

/* The kernel's new_encode_dev(): what the majorminor decoder reads. */
static __always_inline u32 encode_dev(u32 major, u32 minor)
{
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
}

/* Kernels before 5.17 kept the disk in the request (rq->rq_disk); later ones
 * reach it through the queue (rq->q->disk, commit "block: remove
 * request->rq_disk"). */
struct request___old {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

static __always_inline u32 request_dev(struct request *rq)
{
	struct gendisk *disk;

	if (bpf_core_field_exists(((struct request___old *)rq)->rq_disk))
		disk = BPF_CORE_READ((struct request___old *)rq, rq_disk);
	else
		disk = BPF_CORE_READ(rq, q, disk);
	if (!disk)
		return 0;
	return encode_dev(BPF_CORE_READ(disk, major), BPF_CORE_READ(disk, first_minor));
}

static __always_inline void record(u32 dev, u32 op, u64 start_ns)
{
	u64 now = bpf_ktime_get_ns();
	u64 us;
	struct bio_key key = { .dev = dev, .op = op };

	if (now < start_ns)
		return;
	us = (now - start_ns) / 1000;
	key.slot = exp2_slot(us, MAX_SLOT);
	increment_map(&bio_latency_seconds, &key, 1);
	key.slot = HIST_SUM_SLOT(MAX_SLOT);
	increment_map(&bio_latency_seconds, &key, us);
}

/* raw_tp: insert starts the clock; issue starts it only if insert did not. */
static __always_inline int start_request(struct request *rq, u64 flags)
{
	u64 key = (u64)rq, ts = bpf_ktime_get_ns();

	update_map(&start_by_request, &key, &ts, flags);
	return 0;
}

SEC("raw_tp/block_rq_insert")
int BPF_PROG(raw_tp__block_rq_insert, struct request *rq)
{
	return start_request(rq, BPF_ANY);
}

SEC("raw_tp/block_rq_issue")
int BPF_PROG(raw_tp__block_rq_issue, struct request *rq)
{
	return start_request(rq, BPF_NOEXIST);
}

SEC("raw_tp/block_rq_complete")
int BPF_PROG(raw_tp__block_rq_complete, struct request *rq)
{
	u64 key = (u64)rq, *start;

	start = bpf_map_lookup_elem(&start_by_request, &key);
	if (!start)
		return 0;
	record(request_dev(rq), BPF_CORE_READ(rq, cmd_flags) & REQ_OP_MASK_, *start);
	bpf_map_delete_elem(&start_by_request, &key);
	return 0;
}

/* Classic tracepoints: dev is the kernel's internal dev_t (major << 20 | minor). */
static __always_inline struct sector_key sector_key_of(struct trace_event_raw_block_rq *ctx)
{
	struct sector_key key = {
		.sector = ctx->sector,
		.dev = ctx->dev,
	};
	return key;
}

static __always_inline int start_sector(struct trace_event_raw_block_rq *ctx, u64 flags)
{
	struct sector_key key = sector_key_of(ctx);
	u64 ts = bpf_ktime_get_ns();

	update_map(&start_by_sector, &key, &ts, flags);
	return 0;
}

SEC("tracepoint/block/block_rq_insert")
int tracepoint__block_rq_insert(struct trace_event_raw_block_rq *ctx)
{
	return start_sector(ctx, BPF_ANY);
}

SEC("tracepoint/block/block_rq_issue")
int tracepoint__block_rq_issue(struct trace_event_raw_block_rq *ctx)
{
	return start_sector(ctx, BPF_NOEXIST);
}

/*
 * The REQ_OP_* that blk_fill_rwbs() wrote as the first letters of rwbs: an
 * optional 'F' (preflush) before the operation letter; 'F' alone (or followed
 * by a flag letter) is a flush.
 */
static __always_inline u32 op_of_rwbs(const char *rwbs)
{
	char c = rwbs[0], n = rwbs[1];

	if (c == 'F') {
		if (n != 'W' && n != 'R' && n != 'D' && n != 'N')
			return REQ_OP_FLUSH;
		c = n;
		n = rwbs[2];
	}
	switch (c) {
	case 'R':
		return REQ_OP_READ;
	case 'W':
		return REQ_OP_WRITE;
	case 'D':
		return n == 'E' ? REQ_OP_SECURE_ERASE : REQ_OP_DISCARD;
	default:
		return OP_OTHER;
	}
}

SEC("tracepoint/block/block_rq_complete")
int tracepoint__block_rq_complete(struct trace_event_raw_block_rq_completion *ctx)
{
	struct sector_key key = { .sector = ctx->sector, .dev = ctx->dev };
	char rwbs[4] = {};
	u64 *start;
	u32 dev = ctx->dev;

	start = bpf_map_lookup_elem(&start_by_sector, &key);
	if (!start)
		return 0;
	bpf_probe_read_kernel(rwbs, sizeof(rwbs) - 1, ctx->rwbs);
	record(encode_dev(dev >> 20, dev & ((1U << 20) - 1)), op_of_rwbs(rwbs), *start);
	bpf_map_delete_elem(&start_by_sector, &key);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
