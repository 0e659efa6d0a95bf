#include "object.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "attach.h"
#include "capture.h"
#include "buffers.h"

namespace ebpf {

namespace {

// Entries per bpf_map_lookup_batch call: 1k–4k are as fast as one whole-map
// call on this machine kind, and bound the kernel's temporary allocation.
constexpr uint32_t kBatchChunk = 4096;

bool IsPerCpu(bpf_map_type t) {
  return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY ||
         t == BPF_MAP_TYPE_LRU_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

size_t ValueStride(const bpf_map* m) {
  size_t vs = bpf_map__value_size(m);
  if (!IsPerCpu(bpf_map__type(m))) return vs;
  int cpus = libbpf_num_possible_cpus();
  return ((vs + 7) & ~static_cast<size_t>(7)) * static_cast<size_t>(cpus > 0 ? cpus : 1);
}

// The .rodata datasec's variables: name, offset, size.
struct GlobalVar {
  std::string name;
  uint32_t offset;
  uint32_t size;
};

std::vector<GlobalVar> RodataVars(bpf_object* obj) {
  std::vector<GlobalVar> out;
  btf* b = bpf_object__btf(obj);
  if (b == nullptr) return out;
  int id = btf__find_by_name_kind(b, ".rodata", BTF_KIND_DATASEC);
  if (id < 0) return out;
  const btf_type* sec = btf__type_by_id(b, id);
  const btf_var_secinfo* vi = btf_var_secinfos(sec);
  for (uint16_t i = 0; i < btf_vlen(sec); i++, vi++) {
    const btf_type* var = btf__type_by_id(b, vi->type);
    if (var == nullptr || !btf_is_var(var)) continue;
    out.push_back({btf__name_by_offset(b, var->name_off), vi->offset, vi->size});
  }
  return out;
}

bpf_map* RodataMap(bpf_object* obj) {
  bpf_map* m;
  bpf_object__for_each_map(m, obj) {
    if (!bpf_map__is_internal(m)) continue;
    std::string name = bpf_map__name(m);
    if (name.size() >= 7 && name.compare(name.size() - 7, 7, ".rodata") == 0) return m;
  }
  return nullptr;
}

Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsTypedArray()) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a Buffer");
  }
  return info[i].As<Napi::Buffer<uint8_t>>();
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  }
  return info[i].As<Napi::String>().Utf8Value();
}

}  // namespace

Napi::Function NativeObject::Init(Napi::Env env) {
  return DefineClass(env, "NativeObject",
                     {
                         InstanceMethod("programs", &NativeObject::Programs),
                         InstanceMethod("maps", &NativeObject::Maps),
                         InstanceMethod("globals", &NativeObject::Globals),
                         InstanceMethod("setGlobal", &NativeObject::SetGlobal),
                         InstanceMethod("setAutoload", &NativeObject::SetAutoload),
                         InstanceMethod("load", &NativeObject::Load),
                         InstanceMethod("attach", &NativeObject::Attach),
                         InstanceMethod("attachUsdt", &NativeObject::AttachUsdt),
                         InstanceMethod("attachUprobe", &NativeObject::AttachUprobe),
                         InstanceMethod("detach", &NativeObject::Detach),
                         InstanceMethod("iterRead", &NativeObject::IterRead),
                         InstanceMethod("testRun", &NativeObject::TestRun),
                         InstanceMethod("mapLookup", &NativeObject::MapLookup),
                         InstanceMethod("mapUpdate", &NativeObject::MapUpdate),
                         InstanceMethod("mapUpdateBatch", &NativeObject::MapUpdateBatch),
                         InstanceMethod("mapDelete", &NativeObject::MapDelete),
                         InstanceMethod("mapRead", &NativeObject::MapRead),
                         InstanceMethod("mapReadMethod", &NativeObject::MapReadMethod),
                         InstanceMethod("ringOpen", &NativeObject::RingOpen),
                         InstanceMethod("perfOpen", &NativeObject::PerfOpen),
                         InstanceMethod("bufferConsume", &NativeObject::BufferConsume),
                         InstanceMethod("bufferStats", &NativeObject::BufferStats),
                         InstanceMethod("bufferClose", &NativeObject::BufferClose),
                         InstanceMethod("close", &NativeObject::Close),
                         InstanceAccessor("closed", &NativeObject::IsClosed, nullptr),
                         InstanceAccessor("loaded", &NativeObject::IsLoaded, nullptr),
                     });
}

// new NativeObject(path, btfPath?)
NativeObject::NativeObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeObject>(info) {
  Napi::Env env = info.Env();
  InstallPrintCallback();
  std::string path = StringArg(info, 0, "path");
  std::string btf_path;
  bool have_btf = info.Length() > 1 && info[1].IsString();
  if (have_btf) btf_path = info[1].As<Napi::String>().Utf8Value();

  LogCapture log;
  LIBBPF_OPTS(bpf_object_open_opts, opts);
  if (have_btf) opts.btf_custom_path = btf_path.c_str();
  errno = 0;
  obj_ = bpf_object__open_file(path.c_str(), &opts);
  if (obj_ == nullptr) {
    int err = errno != 0 ? errno : EINVAL;
    closed_ = true;
    throw MakeError(env, ErrnoText(err), err, &log);
  }
  bpf_map* m;
  bpf_object__for_each_map(m, obj_) {
    MapState s;
    s.map = m;
    size_t tok = std::max<size_t>(bpf_map__key_size(m), 8);
    s.token_in.assign(tok, 0);
    s.token_out.assign(tok, 0);
    s.walk_prev.assign(std::max<size_t>(bpf_map__key_size(m), 1), 0);
    maps_.push_back(std::move(s));
  }
}

NativeObject::~NativeObject() {
  // Never closed (GC finalizer): best effort, no JS calls here.
  CloseAll();
}

void NativeObject::CloseAll() {
  if (closed_) return;
  closed_ = true;
  CloseBuffers();
  for (auto& kv : links_) {
    for (bpf_link* l : kv.second) bpf_link__destroy(l);
  }
  links_.clear();
  maps_.clear();
  if (obj_ != nullptr) bpf_object__close(obj_);
  obj_ = nullptr;
}

void NativeObject::CheckOpen(Napi::Env env) const {
  if (closed_) throw StateError(env, "closed", "object is closed");
}

void NativeObject::CheckLoaded(Napi::Env env) const {
  CheckOpen(env);
  if (!loaded_) throw StateError(env, "not-loaded", "object is not loaded");
}

bpf_program* NativeObject::FindProgram(Napi::Env env, const std::string& name) const {
  bpf_program* p = bpf_object__find_program_by_name(obj_, name.c_str());
  if (p == nullptr) throw StateError(env, "no-program", "no program named \"" + name + "\"");
  return p;
}

MapState& NativeObject::MapAt(Napi::Env env, const Napi::Value& index) {
  CheckLoaded(env);
  if (!index.IsNumber()) throw Napi::TypeError::New(env, "map index must be a number");
  int64_t i = index.As<Napi::Number>().Int64Value();
  if (i < 0 || static_cast<size_t>(i) >= maps_.size()) throw Napi::RangeError::New(env, "no such map index");
  return maps_[static_cast<size_t>(i)];
}

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

Napi::Value NativeObject::Maps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  Napi::Array out = Napi::Array::New(env, maps_.size());
  int cpus = libbpf_num_possible_cpus();
  for (size_t i = 0; i < maps_.size(); i++) {
    const bpf_map* m = maps_[i].map;
    bool percpu = IsPerCpu(bpf_map__type(m));
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", bpf_map__name(m));
    const char* type = libbpf_bpf_map_type_str(bpf_map__type(m));
    o.Set("type", type != nullptr ? type : "unknown");
    o.Set("keySize", bpf_map__key_size(m));
    o.Set("valueSize", bpf_map__value_size(m));
    o.Set("maxEntries", bpf_map__max_entries(m));
    o.Set("perCpu", Napi::Boolean::New(env, percpu));
    o.Set("numCpus", percpu ? cpus : 1);
    o.Set("valueStride", static_cast<double>(ValueStride(m)));
    o.Set("internal", Napi::Boolean::New(env, bpf_map__is_internal(m)));
    // Created maps: the kernel's map id (what a program reads as `map->id`).
    int fd = bpf_map__fd(m);
    if (fd >= 0) {
      bpf_map_info minfo = {};
      __u32 len = sizeof(minfo);
      if (bpf_obj_get_info_by_fd(fd, &minfo, &len) == 0) o.Set("id", Napi::Number::New(env, minfo.id));
    }
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

Napi::Value NativeObject::Globals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  std::vector<GlobalVar> vars = RodataVars(obj_);
  Napi::Array out = Napi::Array::New(env, vars.size());
  for (size_t i = 0; i < vars.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", vars[i].name);
    o.Set("offset", vars[i].offset);
    o.Set("size", vars[i].size);
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

// setGlobal(name, bytes): bytes.length must equal the variable's size.
void NativeObject::SetGlobal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (loaded_) throw StateError(env, "loaded", "globals can only be set before load");
  std::string name = StringArg(info, 0, "name");
  Napi::Buffer<uint8_t> bytes = BufferArg(info, 1, "value");
  std::vector<GlobalVar> vars = RodataVars(obj_);
  auto it = std::find_if(vars.begin(), vars.end(), [&](const GlobalVar& v) { return v.name == name; });
  if (it == vars.end()) throw StateError(env, "no-global", "no const volatile global named \"" + name + "\"");
  if (bytes.Length() != it->size) throw Napi::RangeError::New(env, "value size does not match the global's size");
  bpf_map* m = RodataMap(obj_);
  if (m == nullptr) throw StateError(env, "no-global", "the object has no .rodata map");
  size_t size = 0;
  const void* cur = bpf_map__initial_value(m, &size);
  if (cur == nullptr || static_cast<size_t>(it->offset) + it->size > size) {
    throw StateError(env, "no-global", "global \"" + name + "\" lies outside the .rodata map");
  }
  std::vector<uint8_t> data(static_cast<const uint8_t*>(cur), static_cast<const uint8_t*>(cur) + size);
  memcpy(data.data() + it->offset, bytes.Data(), it->size);
  LogCapture log;
  int err = bpf_map__set_initial_value(m, data.data(), data.size());
  if (err != 0) throw MakeError(env, ErrnoText(err), err, &log);
}

void NativeObject::SetAutoload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (loaded_) throw StateError(env, "loaded", "autoload can only be set before load");
  bpf_program* p = FindProgram(env, StringArg(info, 0, "program"));
  int err = bpf_program__set_autoload(p, info.Length() > 1 && info[1].ToBoolean().Value());
  if (err != 0) throw MakeError(env, ErrnoText(err), err, nullptr);
}

// On failure the bpf_object is closed (a spec is consumed by load).
void NativeObject::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (loaded_) throw StateError(env, "loaded", "object is already loaded");
  LogCapture log;
  int err = bpf_object__load(obj_);
  if (err != 0) {
    Napi::Error e = MakeError(env, ErrnoText(err), err, &log);
    CloseAll();
    throw e;
  }
  loaded_ = true;
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

// mapLookup(index, key, valueOut) → found
Napi::Value NativeObject::MapLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  Napi::Buffer<uint8_t> key = BufferArg(info, 1, "key");
  Napi::Buffer<uint8_t> out = BufferArg(info, 2, "value");
  if (key.Length() != bpf_map__key_size(m.map)) throw Napi::RangeError::New(env, "key size mismatch");
  if (out.Length() < ValueStride(m.map)) throw Napi::RangeError::New(env, "value buffer too small");
  int err = bpf_map_lookup_elem(bpf_map__fd(m.map), key.Data(), out.Data());
  if (err == 0) return Napi::Boolean::New(env, true);
  err = errno;
  if (err == ENOENT) return Napi::Boolean::New(env, false);
  throw MakeError(env, ErrnoText(err), err, nullptr);
}

// mapUpdate(index, key, value, flags)
void NativeObject::MapUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  Napi::Buffer<uint8_t> key = BufferArg(info, 1, "key");
  Napi::Buffer<uint8_t> value = BufferArg(info, 2, "value");
  uint64_t flags = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int64Value() : 0;
  if (key.Length() != bpf_map__key_size(m.map)) throw Napi::RangeError::New(env, "key size mismatch");
  if (value.Length() != ValueStride(m.map)) throw Napi::RangeError::New(env, "value size mismatch");
  int err = bpf_map_update_elem(bpf_map__fd(m.map), key.Data(), value.Data(), flags);
  if (err != 0) {
    err = errno;
    throw MakeError(env, ErrnoText(err), err, nullptr);
  }
}

// mapUpdateBatch(index, keys, values, count, flags) → entries updated
Napi::Value NativeObject::MapUpdateBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  Napi::Buffer<uint8_t> keys = BufferArg(info, 1, "keys");
  Napi::Buffer<uint8_t> values = BufferArg(info, 2, "values");
  uint32_t count = info[3].As<Napi::Number>().Uint32Value();
  uint64_t flags = info.Length() > 4 && info[4].IsNumber() ? info[4].As<Napi::Number>().Int64Value() : 0;
  size_t ks = bpf_map__key_size(m.map), vs = ValueStride(m.map);
  if (keys.Length() < count * ks || values.Length() < count * vs) {
    throw Napi::RangeError::New(env, "buffers smaller than count entries");
  }
  uint32_t done = 0;
  if (flags != 0) {
    // The kernel's batch update takes no BPF_NOEXIST/BPF_EXIST (EINVAL): one by one.
    for (; done < count; done++) {
      if (bpf_map_update_elem(bpf_map__fd(m.map), keys.Data() + done * ks, values.Data() + done * vs, flags) != 0) {
        int err = errno;
        Napi::Error e = MakeError(env, ErrnoText(err), err, nullptr);
        e.Set("done", Napi::Number::New(env, done));
        throw e;
      }
    }
    return Napi::Number::New(env, done);
  }
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  while (done < count) {
    uint32_t n = std::min(count - done, kBatchChunk);
    int err = bpf_map_update_batch(bpf_map__fd(m.map), keys.Data() + done * ks, values.Data() + done * vs, &n, &opts);
    done += n;
    if (err != 0) {
      Napi::Error e = MakeError(env, ErrnoText(err), err, nullptr);
      e.Set("done", Napi::Number::New(env, done));
      throw e;
    }
  }
  return Napi::Number::New(env, done);
}

// mapDelete(index, key) → existed
Napi::Value NativeObject::MapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  Napi::Buffer<uint8_t> key = BufferArg(info, 1, "key");
  if (key.Length() != bpf_map__key_size(m.map)) throw Napi::RangeError::New(env, "key size mismatch");
  int err = bpf_map_delete_elem(bpf_map__fd(m.map), key.Data());
  if (err == 0) return Napi::Boolean::New(env, true);
  err = errno;
  if (err == ENOENT) return Napi::Boolean::New(env, false);
  throw MakeError(env, ErrnoText(err), err, nullptr);
}

// mapRead(index, keys, values, offset, resume) → n
//
// Reads entries into keys/values from entry `offset` on until the end of the
// map (returns the total count n ≥ 0) or until the buffers are full (returns
// -1 - count: grow the buffers, keep the first count entries, and call again
// with offset = count and resume = true). Batch lookup in chunks where the
// kernel has it; get_next_key + lookup where it does not (decided by the
// first call on this map and remembered).
Napi::Value NativeObject::MapRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  Napi::Buffer<uint8_t> keys = BufferArg(info, 1, "keys");
  Napi::Buffer<uint8_t> values = BufferArg(info, 2, "values");
  size_t off = info[3].As<Napi::Number>().Uint32Value();
  bool resume = info[4].ToBoolean().Value();
  int fd = bpf_map__fd(m.map);
  size_t ks = bpf_map__key_size(m.map), vs = ValueStride(m.map);
  size_t cap = std::min(keys.Length() / ks, values.Length() / vs);
  if (off > cap || (!resume && off != 0)) throw Napi::RangeError::New(env, "bad read offset");
  uint8_t* kp = keys.Data();
  uint8_t* vp = values.Data();
  auto more = [&](size_t n) { return Napi::Number::New(env, -1.0 - static_cast<double>(n)); };
  auto done = [&](size_t n) { return Napi::Number::New(env, static_cast<double>(n)); };

  if (!m.batch_unsupported) {
    if (!resume) m.have_token = false;
    while (off < cap) {
      uint32_t want = static_cast<uint32_t>(std::min<size_t>(cap - off, kBatchChunk));
      uint32_t n = want;
      LIBBPF_OPTS(bpf_map_batch_opts, opts);
      int err = bpf_map_lookup_batch(fd, m.have_token ? m.token_in.data() : nullptr, m.token_out.data(),
                                     kp + off * ks, vp + off * vs, &n, &opts);
      if (err != 0 && err != -ENOENT) {
        bool first = !m.batch_tried && !m.have_token;
        if (first && (err == -EINVAL || err == -524 || err == -EOPNOTSUPP)) {
          m.batch_unsupported = true;  // e.g. a map type without batch ops
          break;
        }
        if (err == -ENOSPC) {
          // One hash bucket holds more entries than `want`: retry with all the room left.
          if (want < cap - off) {
            n = static_cast<uint32_t>(cap - off);
            err = bpf_map_lookup_batch(fd, m.have_token ? m.token_in.data() : nullptr, m.token_out.data(),
                                       kp + off * ks, vp + off * vs, &n, &opts);
          }
          if (err == -ENOSPC) return more(off);
        }
        if (err != 0 && err != -ENOENT) throw MakeError(env, ErrnoText(err), err, nullptr);
      }
      m.batch_tried = true;
      off += n;
      if (err == -ENOENT) {
        m.have_token = false;
        return done(off);
      }
      std::swap(m.token_in, m.token_out);
      m.have_token = true;
    }
    if (!m.batch_unsupported) return more(off);
  }

  // Key-by-key walk.
  const uint8_t* prev = nullptr;
  if (resume && off > 0) {
    memcpy(m.walk_prev.data(), kp + (off - 1) * ks, ks);
    prev = m.walk_prev.data();
  }
  while (off < cap) {
    uint8_t* k = kp + off * ks;
    if (bpf_map_get_next_key(fd, prev, k) != 0) {
      int err = errno;
      if (err == ENOENT) return done(off);
      throw MakeError(env, ErrnoText(err), err, nullptr);
    }
    memcpy(m.walk_prev.data(), k, ks);
    prev = m.walk_prev.data();
    if (bpf_map_lookup_elem(fd, k, vp + off * vs) != 0) {
      int err = errno;
      if (err == ENOENT) continue;  // deleted since get_next_key: skip it
      throw MakeError(env, ErrnoText(err), err, nullptr);
    }
    off++;
  }
  return more(off);
}

Napi::Value NativeObject::MapReadMethod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  return Napi::String::New(env, m.batch_unsupported ? "walk" : "batch");
}

void NativeObject::Close(const Napi::CallbackInfo& info) { CloseAll(); }

Napi::Value NativeObject::IsClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), closed_);
}

Napi::Value NativeObject::IsLoaded(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), loaded_);
}

}  // namespace ebpf
