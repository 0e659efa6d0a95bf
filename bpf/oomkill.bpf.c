// SPDX-License-Identifier: GPL-2.0
/*
 * oomkill: OOM kills, by memory cgroup, one perf event record per kill.
 *
 * Hook sets (see hooks.bpf.h), in order of preference:
 *   kprobe  — oom_kill_process(oc, message): records oc->memcg, the memory
 *             cgroup whose limit was hit (0 for a global OOM). This is
 *             ebpf_exporter's oom_kills_total, exactly.
 *   tp_btf  — oom:mark_victim(task, uid): records the *victim's* memory
 *             cgroup. It differs from oc->memcg when the limit sits on an
 *             ancestor of the victim's cgroup (nested cgroups), and a global
 *             OOM is not told apart. So this set fills its own, honestly
 *             named metric oom_kill_victims_total (bpf/oomkill.yaml `hooks:`).
 *
 * The id is the memory controller's cgroup id (kernfs node id = the inode of
 * the cgroup's directory in the hierarchy that has the memory controller: on
 * a hybrid v1/v2 host that is /sys/fs/cgroup/memory, not the cgroup2 mount).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "hooks.bpf.h"
#include "events.bpf.h"

HOOK_FALLBACK();

PERF_EVENTS(oom_kills_total);

struct oom_event {
	u64 memcg_id;
};

SEC("kprobe/oom_kill_process")
int BPF_KPROBE(kprobe__oom_kill_process, struct oom_control *oc, const char *message)
{
	struct oom_event e = {};
	struct mem_cgroup *memcg = BPF_CORE_READ(oc, memcg);

	if (memcg)
		e.memcg_id = BPF_CORE_READ(memcg, css.cgroup, kn, id);
	bpf_perf_event_output(ctx, &oom_kills_total, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return 0;
}

SEC("tp_btf/mark_victim")
int BPF_PROG(tp_btf__mark_victim, struct task_struct *task, uid_t uid)
{
	struct oom_event e = {};
	int memory = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	struct cgroup_subsys_state *css;

	if (memory < 0 || memory >= CGROUP_SUBSYS_COUNT)
		return 0;
	css = BPF_CORE_READ(task, cgroups, subsys[memory]);
	if (css)
		e.memcg_id = BPF_CORE_READ(css, cgroup, kn, id);
	bpf_perf_event_output(ctx, &oom_kills_total, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
