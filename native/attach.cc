// Attach handlers libbpf lacks, iterator reads and test runs: NativeObject
// methods declared in object.h, kept apart from the object's core.
#include "attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dlfcn.h>
#include <linux/perf_event.h>
#include <net/if.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "capture.h"
#include "object.h"

// ebpf_exporter's post-attach mark: the agent calls it once every receiver has
// attached, so a uprobe on it (SEC("uprobe//proc/self/exe:post_attach_mark"))
// runs once. The asm keeps the call from being optimised away.
extern "C" __attribute__((noinline, used, visibility("default"))) void post_attach_mark(void) {
  asm volatile("" ::: "memory");
}

namespace ebpf {

namespace {

constexpr const char* kPerfEventPrefix = "perf_event/";
constexpr const char* kXdpPrefix = "xdp/";
constexpr const char* kPostAttachSection = "uprobe//proc/self/exe:post_attach_mark";

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

Napi::Error StateErr(Napi::Env env, const char* state, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("state", Napi::String::New(env, state));
  return e;
}

// { attached: false, errno, errnoName, errnoText[: detail], log }
Napi::Object NotAttached(Napi::Env env, int err, const std::string& detail, const LogCapture& log) {
  if (err < 0) err = -err;
  if (err == 0) err = EINVAL;
  Napi::Object o = Napi::Object::New(env);
  o.Set("attached", Napi::Boolean::New(env, false));
  o.Set("errno", err);
  o.Set("errnoName", ErrnoName(err));
  o.Set("errnoText", detail.empty() ? ErrnoText(err) : ErrnoText(err) + ": " + detail);
  o.Set("log", LogToJs(env, log.lines()));
  return o;
}

Napi::Object Attached(Napi::Env env, const LogCapture& log) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("attached", Napi::Boolean::New(env, true));
  o.Set("log", LogToJs(env, log.lines()));
  return o;
}

// "0-3,5,7-8" (/sys/devices/system/cpu/online) → CPU numbers; empty on error.
std::vector<int> OnlineCpus() {
  std::ifstream f("/sys/devices/system/cpu/online");
  std::string text;
  std::getline(f, text);
  std::vector<int> cpus;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    char* end = nullptr;
    long a = strtol(part.c_str(), &end, 10);
    long b = a;
    if (*end == '-') b = strtol(end + 1, &end, 10);
    if (a < 0 || b < a || b > 65535) return {};
    for (long c = a; c <= b; c++) cpus.push_back(static_cast<int>(c));
  }
  return cpus;
}

struct PerfSpec {
  uint32_t type = 0;
  uint64_t config = 0;
  uint64_t frequency = 0;
  uint64_t period = 0;
};

// "type=1,config=0,frequency=99" → spec; "" or the problem.
std::string ParsePerfSection(const std::string& args, PerfSpec* out) {
  bool have_type = false, have_config = false;
  std::stringstream ss(args);
  std::string kv;
  while (std::getline(ss, kv, ',')) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) return "expected key=value, got \"" + kv + "\"";
    std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
    if (key != "type" && key != "config" && key != "frequency" && key != "period") {
      return "unknown key \"" + key + "\" (expected type, config, frequency or period)";
    }
    errno = 0;
    char* end = nullptr;
    unsigned long long v = strtoull(value.c_str(), &end, 0);
    if (value.empty() || *end != '\0' || errno != 0) return "bad number \"" + value + "\" for " + key;
    if (key == "type") {
      if (v > UINT32_MAX) return "type out of range";
      out->type = static_cast<uint32_t>(v);
      have_type = true;
    } else if (key == "config") {
      out->config = v;
      have_config = true;
    } else if (key == "frequency") {
      out->frequency = v;
    } else {
      out->period = v;
    }
  }
  if (!have_type || !have_config) return "type= and config= are required";
  if ((out->frequency == 0) == (out->period == 0)) return "give exactly one of frequency= and period= (non-zero)";
  return "";
}

}  // namespace

void RegisterSectionHandlers() {
  static bool done = false;
  if (done) return;
  done = true;
  LIBBPF_OPTS(libbpf_prog_handler_opts, opts);
  // Attach goes through NativeObject::AttachCustom, not a libbpf attach_fn:
  // one perf_event section makes one link per CPU.
  libbpf_register_prog_handler(kPerfEventPrefix, BPF_PROG_TYPE_PERF_EVENT, static_cast<bpf_attach_type>(0), &opts);
  libbpf_register_prog_handler(kXdpPrefix, BPF_PROG_TYPE_XDP, BPF_XDP, &opts);
}

bool IsCustomSection(const std::string& section) {
  return StartsWith(section, kPerfEventPrefix) || StartsWith(section, kXdpPrefix) || section == kPostAttachSection ||
         section == "syscall";
}

std::string AddonPath() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&post_attach_mark), &info) == 0 || info.dli_fname == nullptr) return "";
  char real[PATH_MAX];
  if (realpath(info.dli_fname, real) == nullptr) return info.dli_fname;
  return real;
}

// attach() of a program whose section IsCustomSection.
Napi::Value NativeObject::AttachCustom(Napi::Env env, const std::string& name, bpf_program* p) {
  std::string section = bpf_program__section_name(p);
  LogCapture log;

  if (section == "syscall") return Attached(env, log);  // nothing to attach: testRun runs it

  if (section == kPostAttachSection) {
    std::string path = AddonPath();
    if (path.empty()) return NotAttached(env, ENOENT, "cannot find the addon's own file", log);
    LIBBPF_OPTS(bpf_uprobe_opts, opts);
    opts.func_name = "post_attach_mark";
    errno = 0;
    // Only this process: another agent loading the same .node file has its own mark.
    bpf_link* l = bpf_program__attach_uprobe_opts(p, getpid(), path.c_str(), 0, &opts);
    if (l == nullptr) return NotAttached(env, errno, "uprobe on " + path + ":post_attach_mark", log);
    links_[name].push_back(l);
    return Attached(env, log);
  }

  if (StartsWith(section, kXdpPrefix)) {
    std::string ifname = section.substr(strlen(kXdpPrefix));
    unsigned int ifindex = if_nametoindex(ifname.c_str());
    if (ifindex == 0) {
      return NotAttached(env, ENODEV, "no network interface \"" + ifname + "\" in this network namespace", log);
    }
    errno = 0;
    bpf_link* l = bpf_program__attach_xdp(p, static_cast<int>(ifindex));
    if (l == nullptr) return NotAttached(env, errno, "attach XDP to " + ifname, log);
    links_[name].push_back(l);
    return Attached(env, log);
  }

  // perf_event/type=…,config=…,frequency=…: one event per online CPU, all or nothing.
  PerfSpec spec;
  std::string problem = ParsePerfSection(section.substr(strlen(kPerfEventPrefix)), &spec);
  if (!problem.empty()) return NotAttached(env, EINVAL, "section " + section + ": " + problem, log);
  std::vector<int> cpus = OnlineCpus();
  if (cpus.empty()) return NotAttached(env, EINVAL, "cannot parse /sys/devices/system/cpu/online", log);
  std::vector<bpf_link*> made;
  for (int cpu : cpus) {
    perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = spec.type;
    attr.config = spec.config;
    if (spec.frequency != 0) {
      attr.freq = 1;
      attr.sample_freq = spec.frequency;
    } else {
      attr.sample_period = spec.period;
    }
    int fd = static_cast<int>(syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    int err = fd < 0 ? errno : 0;
    bpf_link* l = nullptr;
    if (fd >= 0) {
      errno = 0;
      l = bpf_program__attach_perf_event(p, fd);  // the link owns fd from here
      if (l == nullptr) {
        err = errno;
        close(fd);
      }
    }
    if (l == nullptr) {
      for (bpf_link* m : made) bpf_link__destroy(m);
      std::string what = fd < 0 ? "perf_event_open" : "attach to perf event";
      return NotAttached(env, err, what + " on CPU " + std::to_string(cpu), log);
    }
    made.push_back(l);
  }
  auto& links = links_[name];
  links.insert(links.end(), made.begin(), made.end());
  Napi::Object o = Attached(env, log);
  o.Set("links", Napi::Number::New(env, static_cast<double>(made.size())));
  return o;
}

// iterRead(program) → Buffer: a new iterator of the program's (first) link, read to the end.
Napi::Value NativeObject::IterRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env);
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "program must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  FindProgram(env, name);
  auto it = links_.find(name);
  if (it == links_.end() || it->second.empty()) throw StateErr(env, "not-attached", "program is not attached");
  int fd = bpf_iter_create(bpf_link__fd(it->second.front()));
  if (fd < 0) {
    int err = errno;
    throw MakeError(env, ErrnoText(err), err, nullptr);
  }
  std::vector<uint8_t> out;
  uint8_t chunk[16384];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      throw MakeError(env, ErrnoText(err), err, nullptr);
    }
    out.insert(out.end(), chunk, chunk + n);
  }
  close(fd);
  return Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
}

// testRun(program, ctx?) → { retval, durationNs }: BPF_PROG_TEST_RUN once.
Napi::Value NativeObject::TestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env);
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "program must be a string");
  bpf_program* p = FindProgram(env, info[0].As<Napi::String>().Utf8Value());
  int fd = bpf_program__fd(p);
  if (fd < 0) throw StateErr(env, "not-loaded", "program was not loaded (autoload off)");
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  if (info.Length() > 1 && info[1].IsTypedArray()) {
    Napi::Buffer<uint8_t> ctx = info[1].As<Napi::Buffer<uint8_t>>();
    opts.ctx_in = ctx.Data();
    opts.ctx_size_in = static_cast<__u32>(ctx.Length());
  }
  LogCapture log;
  int err = bpf_prog_test_run_opts(fd, &opts);
  if (err != 0) {
    err = err < 0 ? -err : errno;
    throw MakeError(env, ErrnoText(err), err, &log);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("retval", Napi::Number::New(env, opts.retval));
  o.Set("durationNs", Napi::Number::New(env, opts.duration));
  return o;
}

}  // namespace ebpf
