// SPDX-License-Identifier: GPL-2.0
/*
 * comm-names: one process that runs under COUNT distinct comm names, each a
 * successful execve (what execsnoop's exec_total{comm} counts). The kernel sets
 * the new comm from the last component of the path given to execve, so each
 * step links <dir>/<prefix><i> to this binary and execs that link; the next
 * image removes the link. No fork and no libc (raw system calls, a few KiB
 * static binary): one exec per name, as cheap as an exec gets.
 *
 * usage: comm-names <binary> <dir> <prefix> <first> <count>
 * Build: cc -O2 -static -nostdlib -ffreestanding -fno-builtin
 *   -fno-tree-loop-distribute-patterns -fno-stack-protector (x86_64, aarch64).
 */
#define AT_FDCWD (-100)
#if defined(__x86_64__)
#define SYS_write 1
#define SYS_execve 59
#define SYS_exit 60
#define SYS_unlinkat 263
#define SYS_symlinkat 266
static long sys3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}
__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call start\n");
#elif defined(__aarch64__)
#define SYS_write 64
#define SYS_execve 221
#define SYS_exit 93
#define SYS_unlinkat 35
#define SYS_symlinkat 36
static long sys3(long n, long a, long b, long c)
{
	register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}
__asm__(".globl _start\n_start:\n mov x0, sp\n bl start\n");
#else
#error "comm-names: x86_64 or aarch64"
#endif

static long len(const char *s)
{
	long n = 0;
	while (s[n])
		n++;
	return n;
}

static __attribute__((noreturn)) void quit(int code, const char *why)
{
	if (why) {
		sys3(SYS_write, 2, (long)why, len(why));
		sys3(SYS_write, 2, (long)"\n", 1);
	}
	for (;;)
		sys3(SYS_exit, code, 0, 0);
}

static long parse(const char *s)
{
	long n = 0;
	while (*s >= '0' && *s <= '9')
		n = n * 10 + (*s++ - '0');
	return n;
}

static char *put(char *at, const char *s)
{
	while (*s)
		*at++ = *s++;
	return at;
}

static char *num(char *at, long n)
{
	char d[24];
	int i = 0;
	do
		d[i++] = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	while (i > 0)
		*at++ = d[--i];
	return at;
}

static int starts(const char *s, const char *p, long n)
{
	for (long i = 0; i < n; i++)
		if (s[i] != p[i])
			return 0;
	return 1;
}

__attribute__((noreturn, used)) void start(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	static char path[4096], from[24], left[24];
	char *at;

	if (argc != 6)
		quit(2, "usage: comm-names <binary> <dir> <prefix> <first> <count>");
	if (len(argv[2]) + len(argv[3]) > 4000)
		quit(2, "comm-names: path too long");
	long first = parse(argv[4]), count = parse(argv[5]);
	/* The link this image was started through (<dir>/<prefix>…), never anything else. */
	at = put(put(put(path, argv[2]), "/"), argv[3]);
	*at = 0;
	if (starts(argv[0], path, at - path) && len(argv[0]) > at - path)
		sys3(SYS_unlinkat, AT_FDCWD, (long)argv[0], 0);
	if (count <= 0)
		quit(0, 0);
	*num(at, first) = 0;
	if (sys3(SYS_symlinkat, (long)argv[1], AT_FDCWD, (long)path) != 0)
		quit(1, "comm-names: symlink failed");
	*num(from, first + 1) = 0;
	*num(left, count - 1) = 0;
	char *next[] = { path, argv[1], argv[2], argv[3], from, left, 0 };
	sys3(SYS_execve, (long)path, (long)next, (long)envp);
	sys3(SYS_unlinkat, AT_FDCWD, (long)path, 0);
	quit(1, "comm-names: execve failed");
}
