/* Shared between addon_test.bpf.c and the addon's kernel tests (src/native/addon.kernel.test.ts). */
#ifndef EBPF_COLLECTOR_ADDON_TEST_H
#define EBPF_COLLECTOR_ADDON_TEST_H

/*
 * The ring programs fire on getpgid(ADDON_TEST_MARKER) only: an invalid pid
 * (above PID_MAX_LIMIT, so the call fails ESRCH) no other code passes. getpid
 * itself is not exact enough for record-by-record tests: Node calls it on its
 * main thread from getenv (SafeGetenv) and OpenSSL's fork check.
 */
#define ADDON_TEST_MARKER 0x3ffffffe

/* One ring buffer record: 32 bytes, little-endian, no padding holes. */
struct addon_test_event {
	__u32 tgid;
	__u32 tid;
	__u64 seq;     /* per-ring sequence number, from 0 */
	__u64 cookie;  /* the value of targ_cookie */
	__u32 kind;    /* 1 = no-wakeup ring, 2 = wakeup ring */
	__u32 pad;
};

#endif
