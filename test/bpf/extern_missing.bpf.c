// SPDX-License-Identifier: GPL-2.0
/*
 * Test object for the open error of an unresolved extern
 * (src/native/errors.kernel.test.ts): `memcmp` is called with a length the
 * compiler cannot inline, so clang emits a call to an extern `memcmp` that has
 * no BTF anywhere — libbpf refuses the object at open with
 * "failed to find BTF for extern 'memcmp'", as ebpf_exporter users meet it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern int memcmp(const void *a, const void *b, unsigned long n);

char a[64], b[64];
volatile unsigned long n = 64;

SEC("tracepoint/syscalls/sys_enter_getppid")
int compare(void *ctx)
{
	return memcmp(a, b, n);
}

char LICENSE[] SEC("license") = "GPL";
