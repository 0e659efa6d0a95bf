// ebpf_native: the N-API addon over libbpf. See README.md for the contract.
#include <bpf/libbpf.h>
#include <limits.h>
#include <malloc.h>
#include <napi.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "attach.h"
#include "caps.h"
#include "loop.h"
#include "capture.h"
#include "object.h"
#include "testing.h"

// A function for uprobe tests to attach to by name in this very file
// (attachUprobe(prog, <path of ebpf_native.node>, 'ebpf_native_uprobe_target')).
extern "C" __attribute__((noinline, used, visibility("default"))) int ebpf_native_uprobe_target(int x) {
  asm volatile("" : "+r"(x));
  return x + 1;
}

namespace {

// errnoText(n) → "EPERM (operation not permitted)"
Napi::Value ErrnoTextJs(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), ebpf::ErrnoText(info[0].As<Napi::Number>().Int32Value()));
}

// Test trigger: n real getpid system calls (glibc's getpid() could be cached by
// some libcs; syscall(2) cannot). Returns the calling thread's id.
Napi::Value SyscallGetpid(const Napi::CallbackInfo& info) {
  uint32_t n = info[0].As<Napi::Number>().Uint32Value();
  for (uint32_t i = 0; i < n; i++) syscall(SYS_getpid);
  return Napi::Number::New(info.Env(), static_cast<double>(syscall(SYS_gettid)));
}

// Test trigger: n getpgid(arg) system calls (a marker argument lets a program
// pick exactly these calls). Returns the calling thread's id.
Napi::Value SyscallGetpgid(const Napi::CallbackInfo& info) {
  uint32_t n = info[0].As<Napi::Number>().Uint32Value();
  long arg = static_cast<long>(info[1].As<Napi::Number>().Int64Value());
  for (uint32_t i = 0; i < n; i++) syscall(SYS_getpgid, arg);
  return Napi::Number::New(info.Env(), static_cast<double>(syscall(SYS_gettid)));
}

// Test trigger: n calls of ebpf_native_uprobe_target.
Napi::Value CallUprobeTarget(const Napi::CallbackInfo& info) {
  uint32_t n = info[0].As<Napi::Number>().Uint32Value();
  int acc = 0;
  for (uint32_t i = 0; i < n; i++) acc = ebpf_native_uprobe_target(acc);
  return Napi::Number::New(info.Env(), acc);
}

// Calls post_attach_mark() once (attach.h): the agent, after every receiver started.
void PostAttachMark(const Napi::CallbackInfo& info) { post_attach_mark(); }

// mallocTune(mmapThreshold, trimThreshold, arenaMax): glibc mallopt(3) at run time;
// 0 leaves a setting alone. Returns false when glibc refused one.
Napi::Value MallocTune(const Napi::CallbackInfo& info) {
  bool ok = true;
  const int params[] = {M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, M_ARENA_MAX};
  for (size_t i = 0; i < 3; i++) {
    int v = info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().Int32Value() : 0;
    if (v > 0 && mallopt(params[i], v) != 1) ok = false;
  }
  return Napi::Boolean::New(info.Env(), ok);
}

// mallocTrim(): malloc_trim(0), every arena's free pages back to the kernel.
Napi::Value MallocTrim(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), malloc_trim(0) == 1);
}

// mallocStats() → { heapBytes, mmappedBytes, freeBytes }: glibc mallinfo2(3).
Napi::Value MallocStats(const Napi::CallbackInfo& info) {
  struct mallinfo2 mi = mallinfo2();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("heapBytes", static_cast<double>(mi.arena));
  o.Set("mmappedBytes", static_cast<double>(mi.hblkhd));
  o.Set("freeBytes", static_cast<double>(mi.fordblks));
  return o;
}

// dropExecutablePages() → bytes: the executable's own clean pages unmapped from this process
// (madvise MADV_DONTNEED). Only mappings of /proc/self/exe that are private, not writable
// and hold no anonymous (copied-on-write) page: their pages equal the file's, stay in the
// page cache, and a later access maps them again from there (a minor fault). A mapping
// with an anonymous page (relocated data, a uprobe's breakpoint) is left alone: dropping
// would lose what was written. The one gap: a uprobe placed on the executable between the
// read of smaps and the madvise (about a millisecond, once per process) would lose its
// breakpoint in this process. Returns the resident bytes of the mappings dropped; -errno
// when /proc/self/smaps cannot be read.
Napi::Value DropExecutablePages(const Napi::CallbackInfo& info) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return Napi::Number::New(info.Env(), -static_cast<double>(errno));
  exe[n] = '\0';
  FILE* f = fopen("/proc/self/smaps", "re");
  if (f == nullptr) return Napi::Number::New(info.Env(), -static_cast<double>(errno));
  struct Mapping {
    unsigned long start, end;
    unsigned long rssKiB, anonKiB;
    bool candidate;
  };
  std::vector<Mapping> maps;
  char line[PATH_MAX + 256];
  while (fgets(line, sizeof(line), f) != nullptr) {
    unsigned long start, end;
    char perms[5];
    int pathAt = 0;
    if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &start, &end, perms, &pathAt) >= 3 && pathAt > 0) {
      char* path = line + pathAt;
      path[strcspn(path, "\n")] = '\0';
      bool candidate = perms[1] != 'w' && perms[3] == 'p' && strcmp(path, exe) == 0;
      maps.push_back({start, end, 0, 0, candidate});
    } else if (!maps.empty()) {
      unsigned long kib;
      if (sscanf(line, "Rss: %lu kB", &kib) == 1) maps.back().rssKiB = kib;
      else if (sscanf(line, "Anonymous: %lu kB", &kib) == 1) maps.back().anonKiB = kib;
    }
  }
  fclose(f);
  double dropped = 0;
  for (const Mapping& m : maps) {
    if (!m.candidate || m.anonKiB != 0 || m.rssKiB == 0) continue;
    if (madvise(reinterpret_cast<void*>(m.start), m.end - m.start, MADV_DONTNEED) == 0) dropped += m.rssKiB * 1024.0;
  }
  return Napi::Number::New(info.Env(), dropped);
}

Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), libbpf_version_string());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ebpf::InstallPrintCallback();
  ebpf::RegisterSectionHandlers();
  exports.Set("NativeObject", ebpf::NativeObject::Init(env));
  exports.Set("errnoText", Napi::Function::New(env, ErrnoTextJs));
  exports.Set("syscallGetpid", Napi::Function::New(env, SyscallGetpid));
  exports.Set("syscallGetpgid", Napi::Function::New(env, SyscallGetpgid));
  exports.Set("callUprobeTarget", Napi::Function::New(env, CallUprobeTarget));
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion));
  exports.Set("mallocTune", Napi::Function::New(env, MallocTune));
  exports.Set("mallocTrim", Napi::Function::New(env, MallocTrim));
  exports.Set("mallocStats", Napi::Function::New(env, MallocStats));
  exports.Set("dropExecutablePages", Napi::Function::New(env, DropExecutablePages));
  exports.Set("postAttachMark", Napi::Function::New(env, PostAttachMark));
  ebpf::InitCaps(env, exports);
  ebpf::InitLoop(env, exports);
  ebpf::InitTesting(env, exports);
  exports.Set("numPossibleCpus", Napi::Number::New(env, libbpf_num_possible_cpus()));
  return exports;
}

}  // namespace

NODE_API_MODULE(ebpf_native, Init)
