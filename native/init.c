/*
 * ebpf-collector-init: the container's PID 1 (and `npm start`'s last exec), in front of
 * the Node agent.
 *
 * Why: Node needs ~50 ms of bootstrap before the agent's first line installs its signal
 * handlers. A SIGTERM in that window kills a normal process (143) and is discarded by the
 * kernel for PID 1 of a namespace — the pod then waits for its grace period and SIGKILL.
 * Blocking signals before exec does not help: Node clears the signal mask at start.
 *
 * What: block the stop/reload signals before anything else, fork and exec the agent,
 * then drop every capability of this process (it only waits and forwards). A signal is
 * held until the agent catches SIGHUP — bin/ebpf-collector.js installs its handlers for
 * SIGTERM, SIGINT and SIGHUP at once, and Node itself never catches SIGHUP, so that bit
 * of /proc/<pid>/status SigCgt means "ready for signals" — or until HOLD_MAX_MS has gone
 * (a command that never catches them, e.g. `validate`), then forwarded. Orphans that
 * re-parent to PID 1 are reaped. The exit status is the agent's (128+N when a signal N
 * ended it).
 *
 *   ebpf-collector-init <program> [args…]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOLD_MAX_MS 5000
#define POLL_MS 5

static const int FORWARDED[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define NFORWARDED (sizeof FORWARDED / sizeof FORWARDED[0])

static void die(const char *what) {
  fprintf(stderr, "ebpf-collector-init: %s: %s\n", what, strerror(errno));
  exit(127);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether `pid` has a handler for SIGHUP (bit 0 of SigCgt). */
static int catches_sighup(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  int yes = 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "SigCgt:", 7) == 0) {
      unsigned long long mask = strtoull(line + 7, NULL, 16);
      yes = (mask & 1ULL) != 0;
      break;
    }
  }
  fclose(f);
  return yes;
}

/* Empty effective, permitted and inheritable sets: this process only waits and forwards. */
static void drop_capabilities(void) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &header, data) != 0) die("capset");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: ebpf-collector-init <program> [args...]\n");
    return 2;
  }
  sigset_t set, old;
  sigemptyset(&set);
  for (size_t i = 0; i < NFORWARDED; i++) sigaddset(&set, FORWARDED[i]);
  sigaddset(&set, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &set, &old) != 0) die("sigprocmask");

  pid_t agent = fork();
  if (agent < 0) die("fork");
  if (agent == 0) {
    /* Not PID 1 (npm start): the agent must not outlive us if we are killed. */
    if (getpid() != 1) prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigprocmask(SIG_SETMASK, &old, NULL);
    execvp(argv[1], argv + 1);
    fprintf(stderr, "ebpf-collector-init: exec %s: %s\n", argv[1], strerror(errno));
    _exit(127);
  }
  drop_capabilities();

  int64_t started = now_ms();
  int ready = 0;
  int held[NSIG] = {0};
  for (;;) {
    if (!ready && (catches_sighup(agent) || now_ms() - started >= HOLD_MAX_MS)) ready = 1;
    if (ready) {
      for (int s = 1; s < NSIG; s++)
        if (held[s]) {
          held[s] = 0;
          kill(agent, s);
        }
    }
    struct timespec wait = {0, POLL_MS * 1000000L};
    siginfo_t info;
    int s = ready ? sigwaitinfo(&set, &info) : sigtimedwait(&set, &info, &wait);
    if (s < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      die("sigwait");
    }
    if (s != SIGCHLD) {
      held[s] = 1;
      continue;
    }
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid != agent) continue; /* a re-parented orphan, reaped */
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
  }
}
