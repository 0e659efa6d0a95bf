// The floor for the scrape path, and the bench's helper for filling the maps.
// Plain C over the system libbpf, no Node. The maps belong to a running agent
// (bench/bpf/scrape.bpf.c); they are found through /proc/<pid>/fdinfo.
//
//   scrape_floor fill <pid> <map> <ksym|multi> <n>
//       empty the map and insert n entries (ksym: n distinct kernel functions)
//   scrape_floor read <pid> <map> <ksym|multi> <batch|walk> <reps> [text-out|-] [pause-ms] [map:kind]
//       read the whole map (batch lookup in 4096-entry chunks, as the addon does,
//       or get_next_key + lookup, as ebpf_exporter does), decode every key and
//       write the same exposition text the agent writes for that metric; prints
//       {"entries":n,"ns":[...]} with the time of each rep; the last rep's text
//       goes to text-out when given (not "-"). With pause-ms, each rep after the
//       first starts after that long asleep (untimed), as a scrape of the agent
//       starts after the bench's client has waited. With map:kind, every timed
//       batch rep also reads (and writes the series of) that map, as the agent's
//       scrape reads every map of the program: the bench's agent has two.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 4096

struct multi_key {
  uint32_t a, b;
  uint64_t c;
};

struct sym {
  uint64_t addr;
  uint32_t order;  // position in the file: first wins among equal addresses
  char *name;
  char type;
  int module;
};

static struct sym *syms;
static size_t nsyms;

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int by_addr(const void *a, const void *b) {
  const struct sym *x = a, *y = b;
  if (x->addr != y->addr) return x->addr < y->addr ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

static void load_kallsyms(void) {
  FILE *f = fopen("/proc/kallsyms", "r");
  if (!f) perror("kallsyms"), exit(1);
  size_t cap = 1 << 18;
  syms = malloc(cap * sizeof *syms);
  char line[512];
  while (fgets(line, sizeof line, f)) {
    char *end;
    uint64_t addr = strtoull(line, &end, 16);
    if (end[0] != ' ' || !end[1] || end[2] != ' ') continue;
    char type = end[1];
    char *name = end + 3;
    name[strcspn(name, "\n")] = 0;
    if (nsyms == cap) syms = realloc(syms, (cap *= 2) * sizeof *syms);
    // The agent's table names a module symbol "name\t[module]", as the file does.
    syms[nsyms] = (struct sym){addr, (uint32_t)nsyms, strdup(name), type, strchr(name, '\t') != NULL};
    nsyms++;
  }
  fclose(f);
  qsort(syms, nsyms, sizeof *syms, by_addr);
}

static const char *ksym(uint64_t addr) {
  size_t lo = 0, hi = nsyms;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (syms[mid].addr < addr) lo = mid + 1;
    else hi = mid;
  }
  return lo < nsyms && syms[lo].addr == addr ? syms[lo].name : NULL;
}

static int find_map(int pid, const char *want) {
  char path[256];
  snprintf(path, sizeof path, "/proc/%d/fdinfo", pid);
  DIR *d = opendir(path);
  if (!d) return perror(path), -1;
  struct dirent *e;
  int found = -1;
  while (found < 0 && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[600], buf[4096];
    snprintf(p, sizeof p, "%s/%s", path, e->d_name);
    int fd = open(p, O_RDONLY);
    if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = 0;
    char *id = strstr(buf, "map_id:");
    if (!id) continue;
    int mfd = bpf_map_get_fd_by_id(atoi(id + 7));
    if (mfd < 0) continue;
    struct bpf_map_info info = {0};
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(mfd, &info, &len) == 0 && strcmp(info.name, want) == 0) found = mfd;
    else close(mfd);
  }
  closedir(d);
  if (found < 0) fprintf(stderr, "map %s not found in process %d\n", want, pid);
  return found;
}

static int u64_unique_name(const void *a, const void *b) {
  const struct sym *x = *(struct sym *const *)a, *y = *(struct sym *const *)b;
  return strcmp(x->name, y->name);
}

/** n kernel functions whose address and name are both unique (so n series after decoding). */
static uint64_t *pick_functions(size_t n) {
  struct sym **text = malloc(nsyms * sizeof *text);
  size_t nt = 0;
  for (size_t i = 0; i < nsyms; i++) {
    struct sym *s = &syms[i];
    int shared = (i > 0 && syms[i - 1].addr == s->addr) || (i + 1 < nsyms && syms[i + 1].addr == s->addr);
    if ((s->type == 't' || s->type == 'T') && !s->module && !shared && s->addr != 0) text[nt++] = s;
  }
  qsort(text, nt, sizeof *text, u64_unique_name);
  uint64_t *out = malloc(n * sizeof *out);
  size_t k = 0;
  for (size_t i = 0; i < nt && k < n; i++) {
    int dup = (i > 0 && strcmp(text[i - 1]->name, text[i]->name) == 0) ||
              (i + 1 < nt && strcmp(text[i + 1]->name, text[i]->name) == 0);
    if (!dup) out[k++] = text[i]->addr;
  }
  free(text);
  if (k < n) fprintf(stderr, "only %zu kernel functions with a unique name and address\n", k), exit(1);
  return out;
}

static int fill(int fd, int multi, size_t n) {
  // Empty the map: collect keys, then delete them in one batch.
  size_t ks = multi ? 16 : 8;
  size_t cap = 100000;
  char *keys = malloc(cap * ks), *tok = malloc(ks);
  uint64_t *vals = malloc(cap * 8);
  __u32 count = cap;
  int err = bpf_map_lookup_batch(fd, NULL, tok, keys, vals, &count, NULL);
  if (err && errno != ENOENT && err != -ENOENT) return perror("lookup_batch"), 1;
  if (count > 0 && bpf_map_delete_batch(fd, keys, &count, NULL)) return perror("delete_batch"), 1;
  if (n == 0) return 0;
  uint64_t *addrs = multi ? NULL : pick_functions(n);
  for (size_t i = 0; i < n; i++) {
    if (multi) {
      struct multi_key k = {(uint32_t)(i % 1000), (uint32_t)(i / 1000), (uint64_t)i * 2654435761ull};
      memcpy(keys + i * ks, &k, ks);
    } else {
      memcpy(keys + i * ks, &addrs[i], 8);
    }
    vals[i] = i * 7 + 1;
  }
  count = n;
  if (bpf_map_update_batch(fd, keys, vals, &count, NULL) || count != n) return perror("update_batch"), 1;
  return 0;
}

struct out {
  char *p;
  size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n) {
  if (o->len + n > o->cap) {
    o->cap = (o->len + n) * 2;
    o->p = realloc(o->p, o->cap);
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
}

static void put_u64(struct out *o, uint64_t v) {
  char b[24];
  int i = 24;
  do b[--i] = '0' + v % 10, v /= 10;
  while (v);
  put(o, b + i, 24 - i);
}

static void put_escaped(struct out *o, const char *s) {
  for (; *s; s++) {
    if (*s == '\\') put(o, "\\\\", 2);
    else if (*s == '"') put(o, "\\\"", 2);
    else if (*s == '\n') put(o, "\\n", 2);
    else put(o, s, 1);
  }
}

#define KSYM_NAME "ebpf_exporter_bench_ksym_total"
#define MULTI_NAME "ebpf_exporter_bench_multi_total"

static void series(struct out *o, int multi, const void *key, uint64_t value) {
  if (multi) {
    const struct multi_key *k = key;
    put(o, MULTI_NAME "{a=\"", sizeof(MULTI_NAME "{a=\"") - 1);
    put_u64(o, k->a);
    put(o, "\",b=\"", 5);
    put_u64(o, k->b);
    put(o, "\",c=\"", 5);
    put_u64(o, k->c);
  } else {
    uint64_t addr;
    memcpy(&addr, key, 8);
    const char *name = ksym(addr);
    put(o, KSYM_NAME "{function=\"", sizeof(KSYM_NAME "{function=\"") - 1);
    if (name) put_escaped(o, name);
    else {
      char b[40];
      put(o, b, snprintf(b, sizeof b, "unknown_addr:0x%016llx", (unsigned long long)addr));
    }
  }
  put(o, "\"} ", 3);
  put_u64(o, value);
  put(o, "\n", 1);
}

#define CAP 100000

/** Batch-reads map `fd` (4096 entries a call) into keys/vals and writes its series; the entry count, or -1. */
static long read_batch(int fd, int multi, struct out *o, char *keys, uint64_t *vals) {
  size_t ks = multi ? 16 : 8;
  char tin[16], tout[16];
  size_t total = 0;
  int first = 1, err = 0;
  while (err == 0 && total < CAP) {
    __u32 c = CAP - total < CHUNK ? CAP - total : CHUNK;
    err = bpf_map_lookup_batch(fd, first ? NULL : tin, tout, keys + total * ks, vals + total, &c, NULL);
    if (err && errno != ENOENT) return perror("lookup_batch"), -1;
    for (__u32 i = 0; i < c; i++) series(o, multi, keys + (total + i) * ks, vals[total + i]);
    total += c;
    memcpy(tin, tout, ks);
    first = 0;
  }
  return (long)total;
}

static int read_map(int fd, int multi, int walk, int reps, const char *text_out, int pause_ms, int also_fd,
                    int also_multi) {
  size_t ks = multi ? 16 : 8;
  size_t cap = CAP;
  char *keys = malloc(cap * 16), *prev = malloc(ks);
  uint64_t *vals = malloc(cap * 8);
  struct out o = {0};
  int devnull = open("/dev/null", O_WRONLY);
  const char *header = multi ? "# HELP " MULTI_NAME " Bench series keyed by three numbers\n# TYPE " MULTI_NAME
                               " counter\n"
                             : "# HELP " KSYM_NAME " Bench series keyed by a kernel function address\n# TYPE " KSYM_NAME
                               " counter\n";
  printf("{\"ns\":[");
  size_t total = 0;
  for (int rep = 0; rep < reps; rep++) {
    if (rep > 0 && pause_ms > 0) {
      struct timespec pause = {pause_ms / 1000, (long)(pause_ms % 1000) * 1000000L};
      nanosleep(&pause, NULL);
    }
    double t0 = now_ns();
    total = 0;
    o.len = 0;
    put(&o, header, strlen(header));
    if (walk) {
      int first = 1;
      while (total < cap && bpf_map_get_next_key(fd, first ? NULL : prev, keys + total * ks) == 0) {
        first = 0;
        memcpy(prev, keys + total * ks, ks);
        if (bpf_map_lookup_elem(fd, keys + total * ks, &vals[total]) == 0) {
          series(&o, multi, keys + total * ks, vals[total]);
          total++;
        }
      }
    } else {
      long n = read_batch(fd, multi, &o, keys, vals);
      if (n < 0) return 1;
      total = (size_t)n;
      if (also_fd >= 0 && read_batch(also_fd, also_multi, &o, keys, vals) < 0) return 1;
    }
    if (write(devnull, o.p, o.len) != (ssize_t)o.len) return perror("write"), 1;
    double t = now_ns() - t0;
    printf("%s%.0f", rep ? "," : "", t);
  }
  printf("],\"entries\":%zu,\"bytes\":%zu}\n", total, o.len);
  if (text_out && strcmp(text_out, "-") != 0) {
    FILE *f = fopen(text_out, "w");
    if (!f || fwrite(o.p, 1, o.len, f) != o.len) return perror(text_out), 1;
    fclose(f);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: scrape_floor fill <pid> <map> <ksym|multi> <n>\n"
                    "       scrape_floor read <pid> <map> <ksym|multi> <batch|walk> <reps> [text-out|-] [pause-ms] "
                    "[map:kind]\n");
    return 2;
  }
  int fd = find_map(atoi(argv[2]), argv[3]);
  if (fd < 0) return 1;
  int multi = strcmp(argv[4], "multi") == 0;
  int also_fd = -1, also_multi = 0;
  if (strcmp(argv[1], "read") == 0 && argc > 9) {
    char *colon = strchr(argv[9], ':');
    if (!colon) return fprintf(stderr, "map:kind expected, got %s\n", argv[9]), 2;
    *colon = 0;
    also_multi = strcmp(colon + 1, "multi") == 0;
    if ((also_fd = find_map(atoi(argv[2]), argv[9])) < 0) return 1;
  }
  if (!multi || (also_fd >= 0 && !also_multi)) load_kallsyms();
  if (strcmp(argv[1], "fill") == 0) return fill(fd, multi, strtoul(argv[5], NULL, 10));
  if (strcmp(argv[1], "read") == 0 && argc >= 7)
    return read_map(fd, multi, strcmp(argv[5], "walk") == 0, atoi(argv[6]), argc > 7 ? argv[7] : NULL,
                    argc > 8 ? atoi(argv[8]) : 0, also_fd, also_multi);
  fprintf(stderr, "bad command\n");
  return 2;
}
