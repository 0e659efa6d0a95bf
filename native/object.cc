#include "object.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "buffers.h"
#include "capture.h"

// The object itself: open, globals, load, close. Programs and links: program.cc; maps: map.cc;
// ring and perf buffers: buffers.cc.

namespace ebpf {

namespace {

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

}  // namespace

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
                         InstanceMethod("bufferArea", &NativeObject::BufferArea),
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
  CloseAll(false);
}

void NativeObject::CloseAll(bool from_js) {
  if (closed_) return;
  closed_ = true;
  CloseBuffers(from_js);
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


void NativeObject::Close(const Napi::CallbackInfo& info) { CloseAll(); }

Napi::Value NativeObject::IsClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), closed_);
}

Napi::Value NativeObject::IsLoaded(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), loaded_);
}


}  // namespace ebpf
