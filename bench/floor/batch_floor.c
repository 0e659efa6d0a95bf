// The floor for whole-map reads: plain C over libbpf, no Node. Loads
// build/bpf/addon_test.bpf.o, fills big_hash (100k entries) and times
// bpf_map_lookup_batch in 4096-entry chunks and a get_next_key + lookup walk.
//   cc -O2 -o /tmp/batch_floor batch_floor.c -lbpf && /tmp/batch_floor ../../build/bpf/addon_test.bpf.o
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N 100000
#define CHUNK 4096

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
  struct bpf_object *obj = bpf_object__open_file(argc > 1 ? argv[1] : "build/bpf/addon_test.bpf.o", NULL);
  if (!obj || bpf_object__load(obj)) return fprintf(stderr, "load failed: %d\n", errno), 1;
  int fd = bpf_object__find_map_fd_by_name(obj, "big_hash");
  static __u32 keys[N];
  static __u64 values[N];
  for (__u32 i = 0; i < N; i++) keys[i] = i, values[i] = i + 5;
  __u32 n = N;
  if (bpf_map_update_batch(fd, keys, values, &n, NULL)) return fprintf(stderr, "fill failed\n"), 1;

  double best_batch = 1e18, best_walk = 1e18;
  for (int rep = 0; rep < 10; rep++) {
    double t0 = now_ns();
    __u32 in = 0, out = 0, total = 0;
    int first = 1, err = 0;
    while (err == 0) {
      __u32 c = CHUNK;
      if (total + c > N) c = N - total;
      if (c == 0) c = 1; // one more call to see ENOENT
      err = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys + (total < N ? total : 0),
                                 values + (total < N ? total : 0), &c, NULL);
      total += c;
      in = out;
      first = 0;
    }
    double t = now_ns() - t0;
    if (total != N) return fprintf(stderr, "batch read %u\n", total), 1;
    if (t < best_batch) best_batch = t;
  }
  for (int rep = 0; rep < 3; rep++) {
    double t0 = now_ns();
    __u32 k, *prev = NULL, total = 0;
    __u64 v;
    while (bpf_map_get_next_key(fd, prev, &k) == 0) {
      if (bpf_map_lookup_elem(fd, &k, &v) == 0) total++;
      keys[0] = k;
      prev = &keys[0];
    }
    double t = now_ns() - t0;
    if (total != N) return fprintf(stderr, "walk read %u\n", total), 1;
    if (t < best_walk) best_walk = t;
  }
  printf("batch: %.1f ms (%.0f ns/entry); walk: %.1f ms (%.0f ns/entry); walk/batch %.0fx\n", best_batch / 1e6,
         best_batch / N, best_walk / 1e6, best_walk / N, best_walk / best_batch);
  bpf_object__close(obj);
  return 0;
}
