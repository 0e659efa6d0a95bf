/* execsnoop: the record each exec submits to the `events` ring (bpf/execsnoop.yaml cuts it). */
#ifndef EBPF_COLLECTOR_EXECSNOOP_H
#define EBPF_COLLECTOR_EXECSNOOP_H

struct exec_event {
	__u64 cgroup_id; /* cgroup2 id of the process (inode of its cgroup2 directory) */
	char comm[16];   /* the new comm (the exec'd file's basename, truncated) */
	__u32 pid;       /* tgid */
	__u32 ppid;      /* the real parent's tgid */
	__u64 ts;        /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
};

#endif /* EBPF_COLLECTOR_EXECSNOOP_H */
