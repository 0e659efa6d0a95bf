// SPDX-License-Identifier: GPL-2.0
/*
 * scrape: two 100k-capacity hash maps for the scrape-path benchmark. The bench
 * fills them from user space (bench/floor/scrape_floor.c fill) with 1k, 10k or
 * 100k live entries; the agent reads and exposes them like any program's maps.
 *   scrape_ksym   u64 kernel function address (ksym-decodable) → u64
 *   scrape_multi  16-byte key of three labels (u32, u32, u64) → u64
 * The one program never runs in practice (acct(2)); it is there so the object
 * attaches like a real one.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct multi_key {
	u32 a;
	u32 b;
	u64 c;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 100000);
	__type(key, u64);
	__type(value, u64);
} scrape_ksym SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 100000);
	__type(key, struct multi_key);
	__type(value, u64);
} scrape_multi SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_acct")
int scrape_noop(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
