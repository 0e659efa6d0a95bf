// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup: scheduler task migrations, by the migrated task's cgroup (v2 id).
 *
 * Hook sets (see hooks.bpf.h), in order of preference; all three count the
 * same event with the same key (the migrated task's own cgroup, not the
 * cgroup of whoever triggered the migration, which is usually a waker or the
 * migration/N stopper thread):
 *   tp_btf      — BTF-typed sched_migrate_task: the task pointer is an argument
 *   raw_tp      — the same tracepoint raw: the task is read with probe reads
 *   tracepoint  — the classic sched:sched_migrate_task has only the pid: the
 *                 task is looked up with the bpf_task_from_pid() kfunc
 *                 (kernel 6.2+, allowed for tracepoint programs; where it
 *                 is missing this set fails to load and says so)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"
#include "hooks.bpf.h"

HOOK_FALLBACK();

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, u64);
} cgroup_sched_migrations_total SEC(".maps");

/* Weak: an object that names a missing kfunc fails to load as a whole, every set with it. */
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;

/* The v2 (default hierarchy) cgroup id of a task: its kernfs node id. */
static __always_inline u64 task_cgroup_id(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

static __always_inline void count(struct task_struct *task)
{
	u64 cgroup_id = task_cgroup_id(task);

	increment_map(&cgroup_sched_migrations_total, &cgroup_id, 1);
}

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(tp_btf__sched_migrate_task, struct task_struct *task, int dest_cpu)
{
	count(task);
	return 0;
}

SEC("raw_tp/sched_migrate_task")
int BPF_PROG(raw_tp__sched_migrate_task, struct task_struct *task, int dest_cpu)
{
	count(task);
	return 0;
}

SEC("tracepoint/sched/sched_migrate_task")
int tracepoint__sched_migrate_task(struct trace_event_raw_sched_migrate_task *ctx)
{
	struct task_struct *task;

	task = bpf_task_from_pid(ctx->pid);
	if (!task)
		return 0;
	count(task);
	bpf_task_release(task);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
