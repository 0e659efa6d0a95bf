// SPDX-License-Identifier: GPL-2.0
/* An extra program for the bpf-jit test: loading it adds its JITed code. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("socket")
int jit_extra(struct __sk_buff *skb)
{
	__u32 sum = 0;

	for (int i = 0; i < 16; i++)
		sum += skb->len * (i + 1) ^ skb->protocol;
	return sum & 1 ? skb->len : 0;
}

char LICENSE[] SEC("license") = "GPL";
