// NativeObject: one bpf_object, from open through load to close. Its methods
// are split by kernel noun: object.cc (open, globals, load, close), program.cc
// (programs and links), attach.cc (custom sections, iterators, test runs),
// map.cc (maps), buffers.cc (ring and perf buffers).
//
// Marshalling only: the TS layer (src/native/index.ts) owns states, names,
// error codes and messages. Every call that can fail throws a JS Error whose
// message is the cause (errno by name and meaning) and which carries errno,
// errnoName, errnoText and `log` (libbpf's lines captured during the call).
// Attach calls never throw for a kernel refusal: they return
// { attached, errno?, errnoName?, errnoText?, log }.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include <map>
#include <string>
#include <vector>

namespace ebpf {

class EventBuffer;

// Arguments of the NativeObject methods (object.cc, map.cc, program.cc): a TypeError naming `what`.
Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t i, const char* what);
std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what);

struct MapState {
  bpf_map* map = nullptr;
  // Batch lookup: unknown until the first read, then supported or not.
  bool batch_tried = false;
  bool batch_unsupported = false;
  // Continuation token between calls of one read (max(key size, 8) bytes).
  std::vector<uint8_t> token_in;
  std::vector<uint8_t> token_out;
  bool have_token = false;
  std::vector<uint8_t> walk_prev;
};

class NativeObject : public Napi::ObjectWrap<NativeObject> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NativeObject(const Napi::CallbackInfo& info);
  ~NativeObject() override;

 private:
  Napi::Value Programs(const Napi::CallbackInfo& info);
  Napi::Value Maps(const Napi::CallbackInfo& info);
  Napi::Value Globals(const Napi::CallbackInfo& info);
  void SetGlobal(const Napi::CallbackInfo& info);
  void SetAutoload(const Napi::CallbackInfo& info);
  void Load(const Napi::CallbackInfo& info);
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value AttachUsdt(const Napi::CallbackInfo& info);
  Napi::Value AttachUprobe(const Napi::CallbackInfo& info);
  // attach.cc: custom sections, iterators, test runs.
  Napi::Value AttachCustom(Napi::Env env, const std::string& name, bpf_program* p);
  Napi::Value IterRead(const Napi::CallbackInfo& info);
  Napi::Value TestRun(const Napi::CallbackInfo& info);
  void Detach(const Napi::CallbackInfo& info);
  Napi::Value MapLookup(const Napi::CallbackInfo& info);
  void MapUpdate(const Napi::CallbackInfo& info);
  Napi::Value MapUpdateBatch(const Napi::CallbackInfo& info);
  Napi::Value MapDelete(const Napi::CallbackInfo& info);
  Napi::Value MapRead(const Napi::CallbackInfo& info);
  Napi::Value MapReadMethod(const Napi::CallbackInfo& info);
  // Ring and perf buffers: implemented in buffers.cc.
  Napi::Value RingOpen(const Napi::CallbackInfo& info);
  Napi::Value PerfOpen(const Napi::CallbackInfo& info);
  Napi::Value BufferArea(const Napi::CallbackInfo& info);
  Napi::Value BufferConsume(const Napi::CallbackInfo& info);
  Napi::Value BufferStats(const Napi::CallbackInfo& info);
  void BufferClose(const Napi::CallbackInfo& info);
  EventBuffer* BufferAt(Napi::Env env, const Napi::Value& id);
  // from_js: false from the GC finalizer (no JS calls).
  void CloseBuffers(bool from_js);
  void Close(const Napi::CallbackInfo& info);
  Napi::Value IsClosed(const Napi::CallbackInfo& info);
  Napi::Value IsLoaded(const Napi::CallbackInfo& info);

  void CloseAll(bool from_js = true);
  void CheckOpen(Napi::Env env) const;
  void CheckLoaded(Napi::Env env) const;
  bpf_program* FindProgram(Napi::Env env, const std::string& name) const;
  MapState& MapAt(Napi::Env env, const Napi::Value& index);
  Napi::Value AttachResult(Napi::Env env, const std::string& prog, bpf_link* link, int err,
                           const class LogCapture& log);

  bpf_object* obj_ = nullptr;
  bool loaded_ = false;
  bool closed_ = false;
  std::vector<MapState> maps_;
  std::map<std::string, std::vector<bpf_link*>> links_;
  std::vector<EventBuffer*> buffers_;  // ring and perf buffers by id; nullptr once closed
};

}  // namespace ebpf
