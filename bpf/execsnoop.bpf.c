// SPDX-License-Identifier: GPL-2.0
/*
 * execsnoop: process starts (successful execs) as events: pid, ppid, comm
 * and cgroup, one ring buffer record each. bpf/execsnoop.yaml turns them into
 * exec_total{comm,cgroup} and into log records.
 *
 * Hook sets (see hooks.bpf.h), in order of preference; both see the same
 * event (after the new image is in place: comm is already the new one):
 *   tp_btf      — BTF-typed sched_process_exec: the task is an argument
 *   tracepoint  — classic sched:sched_process_exec: the task is `current`
 *
 * Records are submitted without wake-up (events.bpf.h): the receiver drains
 * on its timer; reserve failures are counted in events_drops.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "hooks.bpf.h"
#include "events.bpf.h"
#include "execsnoop.h"

HOOK_FALLBACK();

EVENT_RING(events, 1024 * 1024);

static __always_inline void emit(struct task_struct *task)
{
	struct exec_event *e = event_reserve(events, sizeof(*e));

	if (!e)
		return;
	e->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	e->pid = BPF_CORE_READ(task, tgid);
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->ts = bpf_ktime_get_ns();
	event_submit(e);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tp_btf__sched_process_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	emit(task);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int tracepoint__sched_process_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	emit((struct task_struct *)bpf_get_current_task());
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
