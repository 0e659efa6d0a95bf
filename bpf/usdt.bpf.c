// SPDX-License-Identifier: GPL-2.0
/*
 * usdt: Python module imports, by module name.
 *
 * One hook: the USDT probe python:import__find__load__start, which CPython
 * fires once per module it loads (arg0: the module's name). Only interpreters
 * built with dtrace support carry the probe (Debian's do; pyenv's and most
 * source builds do not).
 *
 * The section names Debian's interpreter by absolute path: libbpf resolves a
 * bare name through $PATH, where a shim script may come first. The receiver's
 * `binaries` setting maps this path to another interpreter (or the libpython
 * shared library it is linked against) without rebuilding.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/usdt.bpf.h>
#include "maps.bpf.h"
#include "hooks.bpf.h"

/*
 * One hook set, so that an interpreter without the probe makes the receiver
 * skip the program with the reason instead of running it with nothing attached.
 */
HOOK_FALLBACK();

#define MODULE_LEN 128

/* Count only this process (tgid); 0: every process. */
const volatile u32 filter_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, char[MODULE_LEN]);
	__type(value, u64);
} python_module_imports_total SEC(".maps");

SEC("usdt//usr/bin/python3.11:python:import__find__load__start")
int BPF_USDT(usdt__python_import, void *module_name)
{
	char module[MODULE_LEN] = {};

	if (filter_tgid && bpf_get_current_pid_tgid() >> 32 != filter_tgid)
		return 0;
	if (bpf_probe_read_user_str(module, sizeof(module), module_name) < 0)
		return 0;
	increment_map(&python_module_imports_total, module, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
