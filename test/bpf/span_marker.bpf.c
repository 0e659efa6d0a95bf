// SPDX-License-Identifier: GPL-2.0
/*
 * events_test.bpf.c built with defaults that need no globals, as ebpf_exporter's
 * drop-in mode runs it (its configs cannot set any): one span into the ring buffer
 * `spans` per getpgid(0x3fffff52) from any process, nothing else.
 */
#define TARG_MARKER_DEFAULT 0x3fffff52
#define TARG_MODE_DEFAULT 4
#include "events_test.bpf.c"
