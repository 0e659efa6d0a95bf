// Event triggers for the bench: tight loops in a plain C process (no runtime
// making syscalls behind our back), each printing the loop's wall time and this
// process's CPU time (user + system, where BPF programs run) in ns.
//
//   trigger getpid <n>        n getpid(2) calls
//   trigger malloc <n>        n malloc()+free() pairs (libc's, through the PLT)
//   trigger tcp <n>           n loopback TCP connections (connect, accept, close)
//   trigger keepalive <n>     n TCP_KEEPIDLE changes on one connected loopback socket
//                             with SO_KEEPALIVE: each re-arms its keepalive timer
//                             (mod_timer to another wheel bucket: one timer_start)
//   trigger gen <n> <rate>    after a byte on stdin: n getppid(2) calls at <rate>/s
//                             (0: as fast as possible), for the ring buffer figures
//   TRIGGER_CPU=<n> in the environment pins the process to that CPU first: on this VM
//   a run's CPU time differs by ~15 % between the two vCPUs (one takes the interrupts),
//   which is more than the per-event costs being compared.
//   trigger stats 0           hold BPF_ENABLE_STATS (run_cnt/run_time_ns of every
//                             program) until stdin closes
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <sched.h>
#include <bpf/bpf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// A TCP listener on an ephemeral loopback port (its address in *a), or -1.
static int loopback_listener(struct sockaddr_in *a, int backlog) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof *a;
  if (l < 0 || bind(l, (struct sockaddr *)a, sizeof *a) || listen(l, backlog) ||
      getsockname(l, (struct sockaddr *)a, &len))
    return -1;
  return l;
}

// An indirect pointer, so the compiler cannot pair and drop malloc/free.
void *(*volatile alloc)(size_t) = malloc;

int main(int argc, char **argv) {
  if (argc < 3) return fprintf(stderr, "usage: trigger getpid|malloc|tcp|gen <n> [rate]\n"), 2;
  long n = atol(argv[2]);
  const char *pin = getenv("TRIGGER_CPU");
  if (pin != NULL && *pin != '\0') {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(atoi(pin), &set);
    if (sched_setaffinity(0, sizeof set, &set)) return perror("sched_setaffinity"), 1;
  }
  const char *what = argv[1];
  double t0, t, c0 = cpu_ns();
  if (strcmp(what, "getpid") == 0) {
    t0 = now_ns();
    for (long i = 0; i < n; i++) syscall(SYS_getpid);
    t = now_ns() - t0;
  } else if (strcmp(what, "malloc") == 0) {
    t0 = now_ns();
    for (long i = 0; i < n; i++) free(alloc(64));
    t = now_ns() - t0;
  } else if (strcmp(what, "tcp") == 0) {
    struct sockaddr_in a;
    int l = loopback_listener(&a, 128);
    if (l < 0) return perror("listen"), 1;
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
      int c = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(c, (struct sockaddr *)&a, sizeof a)) return perror("connect"), 1;
      int s = accept(l, NULL, NULL);
      if (s < 0) return perror("accept"), 1;
      close(c);
      close(s);
    }
    t = now_ns() - t0;
    close(l);
  } else if (strcmp(what, "keepalive") == 0) {
    struct sockaddr_in a;
    int l = loopback_listener(&a, 1);
    if (l < 0) return perror("listen"), 1;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof a)) return perror("connect"), 1;
    int s = accept(l, NULL, NULL), on = 1;
    if (s < 0 || setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on)) return perror("keepalive"), 1;
    // Idle times far apart land in different timer-wheel buckets, so every change
    // enqueues the timer again instead of only moving its expiry within a bucket.
    const int idle[2] = {60, 7200};
    c0 = cpu_ns();
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
      if (setsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &idle[i & 1], sizeof(int))) return perror("TCP_KEEPIDLE"), 1;
    }
    t = now_ns() - t0;
    close(c);
    close(s);
    close(l);
  } else if (strcmp(what, "gen") == 0) {
    double rate = argc > 3 ? atof(argv[3]) : 0;
    char go;
    if (read(0, &go, 1) != 1) return 1;
    t0 = now_ns();
    const long step = 1000;
    for (long i = 0; i < n; i += step) {
      for (long j = i; j < i + step && j < n; j++) syscall(SYS_getppid);
      if (rate > 0) {
        double due = t0 + (i + step) * 1e9 / rate;
        double wait = due - now_ns();
        if (wait > 0) {
          struct timespec ts = {(time_t)(wait / 1e9), (long)((long long)wait % 1000000000)};
          nanosleep(&ts, NULL);
        }
      }
    }
    t = now_ns() - t0;
  } else if (strcmp(what, "stats") == 0) {
    int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (fd < 0) return perror("bpf_enable_stats"), 1;
    printf("ok\n");
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
    }
    close(fd);
    return 0;
  } else {
    return fprintf(stderr, "unknown trigger %s\n", what), 2;
  }
  printf("%.0f %.0f\n", t, cpu_ns() - c0);
  return 0;
}
