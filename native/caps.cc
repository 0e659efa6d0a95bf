// Capabilities of every thread of this process (see README.md, "Capabilities").
//
// Linux capabilities are a per-thread attribute: capset(2), PR_CAPBSET_DROP
// and PR_CAP_AMBIENT act on the calling thread only. Node runs 7–11 threads
// (libuv's pool, V8 platform workers, the inspector's signal thread), so a
// capset on the JS thread alone leaves the others privileged. As libpsx does
// for Go, the drop is run on each thread from a signal handler:
//
//   - the signal is glibc's SIGSETXID (33): glibc uses it for the same job
//     (setuid() on every thread) and its pthread_sigmask() never blocks it, so
//     it reaches Node's "SignalInspector" thread, which blocks every other
//     signal. glibc's sigaction() refuses that signal, so our handler is put in
//     place with the raw rt_sigaction system call and glibc's action restored
//     afterwards; a signal that is not ours (wrong code, pid or token) is passed
//     on to glibc's handler;
//   - each signal is sent with rt_tgsigqueueinfo to one thread id from
//     /proc/self/task with a token in si_value; the handler applies the new
//     sets and acknowledges; the caller waits for the acknowledgements with a
//     bound, then lists /proc/self/task again and repeats for threads created
//     meanwhile (a thread inherits the capabilities of the thread that creates
//     it, so after a pass with no new thread, later threads inherit the new sets).
//   - io_uring's kernel threads (PF_IO_WORKER: "iou-wrk-*" workers of libuv's
//     epoll_ctl ring, "iou-sqp-*" SQPOLL threads) are listed in /proc/self/task
//     but run no user code, so they can never take the signal: they are not
//     signalled (no 5 s wait for an acknowledgement that cannot come) and are
//     returned as `ioThreads`; src/native/caps.ts judges them.
//
// Marshalling only: which capabilities to keep, and the check of
// /proc/self/task/*/status afterwards, belong to src/native/caps.ts.
#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <napi.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "capture.h"

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "caps.cc: the signal restorer is written for x86_64 and aarch64"
#endif

// rt_sigreturn trampoline for the raw rt_sigaction (glibc's own is not exported).
extern "C" void ebpf_caps_restorer(void);
#if defined(__x86_64__)
__asm__(
    ".text\n.align 16\n.type ebpf_caps_restorer,@function\nebpf_caps_restorer:\n"
    "\tmovq $15, %rax\n\tsyscall\n\thlt\n.size ebpf_caps_restorer,.-ebpf_caps_restorer\n");
#else
__asm__(
    ".text\n.align 4\n.type ebpf_caps_restorer,%function\nebpf_caps_restorer:\n"
    "\tmov x8, #139\n\tsvc #0\n.size ebpf_caps_restorer,.-ebpf_caps_restorer\n");
#endif

namespace {

constexpr int kSignal = 33;  // glibc's SIGSETXID
constexpr unsigned long kSaRestorer = 0x04000000;

// The kernel's struct sigaction for rt_sigaction on x86_64 and arm64.
struct KernelSigaction {
  void* handler;
  unsigned long flags;
  void (*restorer)(void);
  uint64_t mask;
};

constexpr int kMaxThreads = 4096;
constexpr int kMaxFailures = 256;

struct Failure {
  int tid;
  int step;  // 1 bounding set, 2 ambient set, 3 capget/capset
  int err;
};

// State shared with the handler (one drop at a time: g_busy).
std::atomic<bool> g_busy{false};
std::atomic<int> g_token{0};
uint64_t g_keep = 0;
bool g_bounding = false;
int g_last_cap = 40;
KernelSigaction g_old{};
std::atomic<int> g_acked{0};
int g_acked_tids[kMaxThreads];
std::atomic<int> g_nfail{0};
Failure g_fail[kMaxFailures];

long Tid() { return syscall(SYS_gettid); }

bool CapGet(__user_cap_data_struct data[2]) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  return syscall(SYS_capget, &hdr, data) == 0;
}

uint64_t Join(uint32_t lo, uint32_t hi) { return static_cast<uint64_t>(hi) << 32 | lo; }

// On the calling thread: bounding set (when allowed), ambient set, then
// effective = permitted = keep, inheritable = 0. Async-signal-safe.
// Returns 0 or an errno, with *step naming the step that failed.
int Apply(uint64_t keep, bool bounding, int last_cap, int* step) {
  if (bounding) {
    for (int cap = 0; cap <= last_cap; cap++) {
      if (keep >> cap & 1) continue;
      if (syscall(SYS_prctl, PR_CAPBSET_READ, cap, 0, 0, 0) != 1) continue;
      if (syscall(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
        *step = 1;
        return errno;
      }
    }
  }
  // EINVAL: a kernel without ambient capabilities (< 4.3) has none to clear.
  if (syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    *step = 2;
    return errno;
  }
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2];
  std::memset(data, 0, sizeof(data));
  for (int i = 0; i < 2; i++) {
    uint32_t part = static_cast<uint32_t>(keep >> (32 * i));
    data[i].effective = part;
    data[i].permitted = part;
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &hdr, data) != 0) {
    *step = 3;
    return errno;
  }
  return 0;
}

void RecordFailure(int tid, int step, int err) {
  int i = g_nfail.fetch_add(1);
  if (i < kMaxFailures) g_fail[i] = {tid, step, err};
}

void Handler(int sig, siginfo_t* si, void* ctx) {
  int token = g_token.load();
  if (token != 0 && si != nullptr && si->si_code == SI_QUEUE && si->si_pid == getpid() &&
      si->si_value.sival_int == token) {
    int saved = errno;
    int tid = static_cast<int>(Tid());
    int step = 0;
    int err = Apply(g_keep, g_bounding, g_last_cap, &step);
    if (err != 0) RecordFailure(tid, step, err);
    int i = g_acked.fetch_add(1);
    if (i < kMaxThreads) g_acked_tids[i] = tid;
    errno = saved;
    return;
  }
  // Not ours: glibc's (set*id broadcast), as it would have run.
  void* h = g_old.handler;
  if (h == reinterpret_cast<void*>(SIG_DFL) || h == reinterpret_cast<void*>(SIG_IGN)) return;
  if (g_old.flags & SA_SIGINFO) {
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(h)(sig, si, ctx);
  } else {
    reinterpret_cast<void (*)(int)>(h)(sig);
  }
}

long RawSigaction(int sig, const KernelSigaction* act, KernelSigaction* old) {
  return syscall(SYS_rt_sigaction, sig, act, old, sizeof(uint64_t));
}

constexpr unsigned long kPfIoWorker = 0x10;  // include/linux/sched.h

// Whether thread `tid` of this process is an io_uring kernel thread: the flags
// field (the 9th, the 7th after the ")" that ends comm) of its stat has PF_IO_WORKER.
bool IsIoThread(int tid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
  FILE* f = std::fopen(path, "r");
  if (!f) return false;
  char buf[512];
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');
  if (!p) return false;
  unsigned long flags = 0;
  if (std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1) return false;
  return (flags & kPfIoWorker) != 0;
}

std::vector<int> Tasks() {
  std::vector<int> tids;
  DIR* d = opendir("/proc/self/task");
  if (!d) return tids;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    tids.push_back(std::atoi(e->d_name));
  }
  closedir(d);
  return tids;
}

int LastCap() {
  FILE* f = std::fopen("/proc/sys/kernel/cap_last_cap", "r");
  int n = 40;
  if (f) {
    if (std::fscanf(f, "%d", &n) != 1) n = 40;
    std::fclose(f);
  }
  return n < 0 || n > 63 ? 40 : n;
}

void SleepMs(int ms) {
  timespec ts{0, ms * 1000000L};
  nanosleep(&ts, nullptr);
}

Napi::BigInt Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

uint64_t BigArg(const Napi::Value& v) {
  bool lossless = true;
  return v.As<Napi::BigInt>().Uint64Value(&lossless);
}

// capsGet() → { tid, effective, permitted, inheritable, ambient, bounding, lastCap }:
// the calling thread's sets (bigint masks, bit n = capability n).
Napi::Value CapsGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  __user_cap_data_struct data[2];
  if (!CapGet(data)) throw ebpf::MakeError(env, "capget: " + ebpf::ErrnoText(errno), errno, nullptr);
  int last = LastCap();
  uint64_t ambient = 0;
  uint64_t bounding = 0;
  for (int cap = 0; cap <= last; cap++) {
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1) ambient |= uint64_t{1} << cap;
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) bounding |= uint64_t{1} << cap;
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("tid", static_cast<double>(Tid()));
  o.Set("effective", Big(env, Join(data[0].effective, data[1].effective)));
  o.Set("permitted", Big(env, Join(data[0].permitted, data[1].permitted)));
  o.Set("inheritable", Big(env, Join(data[0].inheritable, data[1].inheritable)));
  o.Set("ambient", Big(env, ambient));
  o.Set("bounding", Big(env, bounding));
  o.Set("lastCap", last);
  return o;
}

// capsSetAllThreads(keep: bigint, timeoutMs) → { keep, bounding, threads, acked,
// timedOut: [tid], ioThreads: [tid], failures: [{ tid, step, errno }], passes, handlerRestored }.
// keep is first reduced to the calling thread's permitted set (capset cannot
// add). The bounding set is reduced only when the caller holds CAP_SETPCAP.
Napi::Value CapsSetAllThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t keep = BigArg(info[0]);
  int timeout_ms = info[1].As<Napi::Number>().Int32Value();
  if (g_busy.exchange(true)) {
    throw Napi::Error::New(env, "a capability drop is already running");
  }
  __user_cap_data_struct cur[2];
  if (!CapGet(cur)) {
    int err = errno;
    g_busy = false;
    throw ebpf::MakeError(env, "capability drop: " + ebpf::ErrnoText(err), err, nullptr);
  }
  keep &= Join(cur[0].permitted, cur[1].permitted);
  bool bounding = (Join(cur[0].effective, cur[1].effective) >> CAP_SETPCAP) & 1;
  g_keep = keep;
  g_bounding = bounding;
  g_last_cap = LastCap();
  g_acked = 0;
  g_nfail = 0;

  KernelSigaction ours{};
  if (RawSigaction(kSignal, nullptr, &g_old) != 0) {
    int err = errno;
    g_busy = false;
    throw ebpf::MakeError(env, "capability drop: " + ebpf::ErrnoText(err), err, nullptr);
  }
  ours = g_old;
  ours.handler = reinterpret_cast<void*>(&Handler);
  ours.flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK | kSaRestorer;
  ours.restorer = &ebpf_caps_restorer;
  ours.mask = 0;
  int token = static_cast<int>((static_cast<unsigned>(getpid()) * 2654435761u) ^ static_cast<unsigned>(time(nullptr))) | 1;
  g_token = token;
  if (RawSigaction(kSignal, &ours, nullptr) != 0) {
    int err = errno;
    g_token = 0;
    g_busy = false;
    throw ebpf::MakeError(env, "capability drop: " + ebpf::ErrnoText(err), err, nullptr);
  }

  // The calling thread first: threads it creates from now on inherit the new sets.
  int self = static_cast<int>(Tid());
  int step = 0;
  int err = Apply(keep, bounding, g_last_cap, &step);
  if (err != 0) RecordFailure(self, step, err);

  std::set<int> done{self};
  std::vector<int> timed_out;
  std::vector<int> io_threads;
  int sent = 0;
  int passes = 0;
  const pid_t pid = getpid();
  for (; passes < 16; passes++) {
    std::vector<int> fresh;
    for (int tid : Tasks())
      if (!done.count(tid)) fresh.push_back(tid);
    if (fresh.empty()) break;
    for (int tid : fresh) {
      done.insert(tid);
      if (IsIoThread(tid)) {
        io_threads.push_back(tid);
        continue;
      }
      siginfo_t si;
      std::memset(&si, 0, sizeof(si));
      si.si_signo = kSignal;
      si.si_code = SI_QUEUE;
      si.si_pid = pid;
      si.si_uid = getuid();
      si.si_value.sival_int = token;
      if (syscall(SYS_rt_tgsigqueueinfo, pid, tid, kSignal, &si) == 0) {
        sent++;
      } else if (errno != ESRCH) {  // ESRCH: the thread ended meanwhile
        RecordFailure(tid, 0, errno);
      }
    }
    for (int waited = 0; g_acked.load() < sent && waited < timeout_ms; waited++) SleepMs(1);
    if (g_acked.load() < sent) break;
  }
  int acked = g_acked.load();
  if (acked < sent) {
    std::set<int> seen(g_acked_tids, g_acked_tids + std::min(acked, kMaxThreads));
    std::set<int> io(io_threads.begin(), io_threads.end());
    for (int tid : done)
      if (tid != self && !seen.count(tid) && !io.count(tid)) timed_out.push_back(tid);
  }
  // Restore glibc's action unless a signal may still be pending: then ours stays,
  // (it passes foreign signals on) so a late delivery cannot hit SIG_DFL.
  bool restored = false;
  if (acked >= sent) {
    g_token = 0;
    restored = RawSigaction(kSignal, &g_old, nullptr) == 0;
  }

  Napi::Object o = Napi::Object::New(env);
  o.Set("keep", Big(env, keep));
  o.Set("bounding", bounding);
  o.Set("threads", static_cast<double>(done.size()));
  o.Set("acked", acked);
  o.Set("passes", passes);
  o.Set("handlerRestored", restored);
  Napi::Array to = Napi::Array::New(env, timed_out.size());
  for (size_t i = 0; i < timed_out.size(); i++) to.Set(i, timed_out[i]);
  o.Set("timedOut", to);
  Napi::Array iot = Napi::Array::New(env, io_threads.size());
  for (size_t i = 0; i < io_threads.size(); i++) iot.Set(i, io_threads[i]);
  o.Set("ioThreads", iot);
  int nf = std::min(g_nfail.load(), kMaxFailures);
  Napi::Array fails = Napi::Array::New(env, nf);
  for (int i = 0; i < nf; i++) {
    Napi::Object f = Napi::Object::New(env);
    f.Set("tid", g_fail[i].tid);
    f.Set("step", g_fail[i].step == 1   ? "bounding"
                  : g_fail[i].step == 2 ? "ambient"
                  : g_fail[i].step == 3 ? "capset"
                                        : "signal");
    f.Set("errnoText", ebpf::ErrnoText(g_fail[i].err));
    fails.Set(i, f);
  }
  o.Set("failures", fails);
  g_busy = false;
  return o;
}

}  // namespace

namespace ebpf {

void InitCaps(Napi::Env env, Napi::Object exports) {
  exports.Set("capsGet", Napi::Function::New(env, CapsGet));
  exports.Set("capsSetAllThreads", Napi::Function::New(env, CapsSetAllThreads));
}

}  // namespace ebpf
