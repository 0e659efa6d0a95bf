#include <bpf/bpf.h>

#include <cerrno>
#include <cstdio>

#include "attach.h"
#include "capture.h"
#include "object.h"

// NativeObject's programs and their links: listing, autoload, attach by SEC name, USDT, uprobe, detach.
// Sections libbpf does not attach itself, iterators and test runs: attach.cc.

namespace ebpf {

Napi::Value NativeObject::Programs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  bpf_program* p;
  bpf_object__for_each_program(p, obj_) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", bpf_program__name(p));
    o.Set("section", bpf_program__section_name(p));
    const char* type = libbpf_bpf_prog_type_str(bpf_program__type(p));
    o.Set("type", type != nullptr ? type : "unknown");
    o.Set("autoload", Napi::Boolean::New(env, bpf_program__autoload(p)));
    // Loaded programs: kernel id, tag and (with kernel.bpf_stats_enabled=1) run statistics.
    int fd = bpf_program__fd(p);
    if (fd >= 0) {
      bpf_prog_info pinfo = {};
      __u32 len = sizeof(pinfo);
      if (bpf_obj_get_info_by_fd(fd, &pinfo, &len) == 0) {
        char tag[2 * BPF_TAG_SIZE + 1];
        for (int t = 0; t < BPF_TAG_SIZE; t++) snprintf(tag + 2 * t, 3, "%02x", pinfo.tag[t]);
        o.Set("id", Napi::Number::New(env, pinfo.id));
        o.Set("tag", std::string(tag));
        o.Set("runCount", Napi::Number::New(env, static_cast<double>(pinfo.run_cnt)));
        o.Set("runTimeNs", Napi::Number::New(env, static_cast<double>(pinfo.run_time_ns)));
        o.Set("jitedLen", Napi::Number::New(env, pinfo.jited_prog_len));
      }
    }
    out.Set(i++, o);
  }
  return out;
}


void NativeObject::SetAutoload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (loaded_) throw StateError(env, "loaded", "autoload can only be set before load");
  bpf_program* p = FindProgram(env, StringArg(info, 0, "program"));
  int err = bpf_program__set_autoload(p, info.Length() > 1 && info[1].ToBoolean().Value());
  if (err != 0) throw MakeError(env, ErrnoText(err), err, nullptr);
}


Napi::Value NativeObject::AttachResult(Napi::Env env, const std::string& prog, bpf_link* link, int err,
                                       const LogCapture& log) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("attached", Napi::Boolean::New(env, link != nullptr));
  if (link != nullptr) {
    links_[prog].push_back(link);
  } else {
    if (err < 0) err = -err;
    if (err == 0) err = EINVAL;
    o.Set("errno", err);
    o.Set("errnoName", ErrnoName(err));
    o.Set("errnoText", ErrnoText(err));
  }
  o.Set("log", LogToJs(env, log.lines()));
  return o;
}

// attach(program): by its SEC name.
Napi::Value NativeObject::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env);
  std::string name = StringArg(info, 0, "program");
  bpf_program* p = FindProgram(env, name);
  if (!bpf_program__autoload(p)) throw StateError(env, "not-loaded", "program was not loaded (autoload off)");
  if (IsCustomSection(bpf_program__section_name(p))) return AttachCustom(env, name, p);
  LogCapture log;
  errno = 0;
  bpf_link* l = bpf_program__attach(p);
  return AttachResult(env, name, l, l == nullptr ? errno : 0, log);
}

// attachUsdt(program, binaryPath, provider, name, pid)
Napi::Value NativeObject::AttachUsdt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env);
  std::string name = StringArg(info, 0, "program");
  std::string path = StringArg(info, 1, "binaryPath");
  std::string provider = StringArg(info, 2, "provider");
  std::string probe = StringArg(info, 3, "name");
  int pid = info.Length() > 4 && info[4].IsNumber() ? info[4].As<Napi::Number>().Int32Value() : -1;
  bpf_program* p = FindProgram(env, name);
  if (!bpf_program__autoload(p)) throw StateError(env, "not-loaded", "program was not loaded (autoload off)");
  LogCapture log;
  errno = 0;
  bpf_link* l = bpf_program__attach_usdt(p, pid, path.c_str(), provider.c_str(), probe.c_str(), nullptr);
  return AttachResult(env, name, l, l == nullptr ? errno : 0, log);
}

// attachUprobe(program, binaryPath, func, retprobe, pid)
Napi::Value NativeObject::AttachUprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env);
  std::string name = StringArg(info, 0, "program");
  std::string path = StringArg(info, 1, "binaryPath");
  std::string func = StringArg(info, 2, "func");
  bool retprobe = info.Length() > 3 && info[3].ToBoolean().Value();
  int pid = info.Length() > 4 && info[4].IsNumber() ? info[4].As<Napi::Number>().Int32Value() : -1;
  bpf_program* p = FindProgram(env, name);
  if (!bpf_program__autoload(p)) throw StateError(env, "not-loaded", "program was not loaded (autoload off)");
  LogCapture log;
  LIBBPF_OPTS(bpf_uprobe_opts, opts);
  opts.retprobe = retprobe;
  opts.func_name = func.c_str();
  errno = 0;
  bpf_link* l = bpf_program__attach_uprobe_opts(p, pid, path.c_str(), 0, &opts);
  return AttachResult(env, name, l, l == nullptr ? errno : 0, log);
}

void NativeObject::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  auto it = links_.find(StringArg(info, 0, "program"));
  if (it == links_.end()) return;
  for (bpf_link* l : it->second) bpf_link__destroy(l);
  links_.erase(it);
}

}  // namespace ebpf
