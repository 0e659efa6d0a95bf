// SPDX-License-Identifier: GPL-2.0
/*
 * Programs whose load or attach fails on kernels without fentry/kprobe
 * support (see /work/shared/KERNEL-NOTES.md): fentry load fails EPERM, and
 * kprobe loads but its attach fails (ENOENT without a kprobe PMU). The
 * addon's error-path tests choose one with setAutoload.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("fentry/do_nanosleep")
int BPF_PROG(fentry_nanosleep)
{
	return 0;
}

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(kprobe_nanosleep)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
