// The floor for event delivery: a C consumer of bench/bpf/events.bpf.c, as
// bench/events.ts is the JS one, under the same generator.
//
//   ring_consumer <events.bpf.o> <trigger> <ring|perf> <n> <rate> [drain_ms]
//
// Starts `trigger gen n rate` (waiting on its stdin), loads the object for that
// process, attaches the ring or perf program, lets the generator go and drains
// every drain_ms (default 10) until it exits. Each record is read as
// bench/events.ts reads it: its length checked and its pid compared with the
// generator's. Prints JSON: delivered, pidOk, produced, kernel drops, the
// generator's loop time, and this process's CPU time.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long delivered, pid_matches;
static uint32_t gen_pid;

// The record of bench/bpf/events.bpf.c: u64 ts, u32 pid, u32 seq.
static void on_record(const void *data, size_t size) {
  if (size < 16) return;
  delivered++;
  uint32_t pid;
  memcpy(&pid, (const char *)data + 8, sizeof pid);
  if (pid == gen_pid) pid_matches++;
}

static int on_ring(void *ctx, void *data, size_t size) {
  on_record(data, size);
  return 0;
}

static void on_perf(void *ctx, int cpu, void *data, __u32 size) { on_record(data, size); }

static long long lost;
static void on_lost(void *ctx, int cpu, __u64 n) { lost += n; }

static double cpu_ms(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
}

int main(int argc, char **argv) {
  if (argc < 6) return fprintf(stderr, "usage: ring_consumer <obj> <trigger> <ring|perf> <n> <rate> [drain_ms]\n"), 2;
  int perf = strcmp(argv[3], "perf") == 0;
  int drain_ms = argc > 6 ? atoi(argv[6]) : 10;
  if (drain_ms < 1) return fprintf(stderr, "drain_ms must be at least 1\n"), 2;
  int to_gen[2], from_gen[2];
  if (pipe(to_gen) || pipe(from_gen)) return perror("pipe"), 1;
  pid_t gen = fork();
  if (gen == 0) {
    dup2(to_gen[0], 0);
    dup2(from_gen[1], 1);
    close(to_gen[1]);
    close(from_gen[0]);
    execl(argv[2], argv[2], "gen", argv[4], argv[5], (char *)NULL);
    _exit(127);
  }
  close(to_gen[0]);
  close(from_gen[1]);
  gen_pid = (uint32_t)gen;

  struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
  if (!obj) return perror("open"), 1;
  struct bpf_map *rodata = bpf_object__find_map_by_name(obj, ".rodata");
  size_t sz;
  void *ro = rodata ? (void *)bpf_map__initial_value(rodata, &sz) : NULL;
  if (!ro) return fprintf(stderr, "no .rodata\n"), 1;
  *(uint32_t *)ro = (uint32_t)gen;  // targ_tgid is the only const volatile global
  bpf_program__set_autoload(bpf_object__find_program_by_name(obj, perf ? "ring_getppid" : "perf_getppid"), false);
  if (bpf_object__load(obj)) return perror("load"), 1;
  struct bpf_link *link = bpf_program__attach(bpf_object__find_program_by_name(obj, perf ? "perf_getppid" : "ring_getppid"));
  if (!link) return perror("attach"), 1;
  struct ring_buffer *rb = NULL;
  struct perf_buffer *pb = NULL;
  if (perf) {
    pb = perf_buffer__new(bpf_object__find_map_fd_by_name(obj, "perf_events"), 256, on_perf, on_lost, NULL, NULL);
    if (!pb) return perror("perf_buffer__new"), 1;
  } else {
    rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "events"), on_ring, NULL, NULL);
    if (!rb) return perror("ring_buffer__new"), 1;
  }
  double cpu0 = cpu_ms();
  // The steady state, as bench/events.ts counts it: from the drain that brings the total past
  // the first fifth of the records.
  long long warm_up = atoll(argv[4]) / 5, steady_from = -1;
  double steady_cpu0 = 0;
  if (write(to_gen[1], "g", 1) != 1) return perror("go"), 1;
  int status;
  for (;;) {
    if (perf) perf_buffer__poll(pb, drain_ms);
    else {
      ring_buffer__consume(rb);
      usleep(drain_ms * 1000);
    }
    if (steady_from < 0 && delivered >= warm_up) {
      steady_from = delivered;
      steady_cpu0 = cpu_ms();
    }
    if (waitpid(gen, &status, WNOHANG) == gen) break;
  }
  if (perf) perf_buffer__consume(pb);
  else ring_buffer__consume(rb);
  double now = cpu_ms();
  double cpu = now - cpu0;
  double steady_cpu = steady_from < 0 ? 0 : now - steady_cpu0;
  long long steady_records = steady_from < 0 ? 0 : delivered - steady_from;
  char out[64] = {0};
  if (read(from_gen[0], out, sizeof out - 1) <= 0) return fprintf(stderr, "generator failed\n"), 1;
  int stats = bpf_object__find_map_fd_by_name(obj, "event_stats");
  uint64_t produced = 0, drops = 0;
  uint32_t k = 0;
  bpf_map_lookup_elem(stats, &k, &produced);
  k = 1;
  bpf_map_lookup_elem(stats, &k, &drops);
  printf(
      "{\"delivered\":%lld,\"pidOk\":%s,\"produced\":%llu,\"drops\":%llu,\"lost\":%lld,\"genNs\":%s,\"cpuMs\":%.3f,"
      "\"steadyRecords\":%lld,\"steadyCpuMs\":%.3f}\n",
      delivered, pid_matches == delivered ? "true" : "false", (unsigned long long)produced, (unsigned long long)drops, lost, strtok(out, " \n"), cpu,
      steady_records, steady_cpu);
  ring_buffer__free(rb);
  perf_buffer__free(pb);
  bpf_link__destroy(link);
  bpf_object__close(obj);
  return 0;
}
