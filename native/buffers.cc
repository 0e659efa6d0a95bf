#include "buffers.h"

#include <cerrno>
#include <cstring>

#include "capture.h"
#include "object.h"
#include "perfbuf.h"
#include "ringbuf.h"

namespace ebpf {

void EventBuffer::SetUp(Napi::Function on_batch, Napi::Function on_big, Napi::Uint8Array staging) {
  if (staging.ByteLength() < 64) throw Napi::TypeError::New(env_, "event buffer staging area is too small");
  on_batch_ = Napi::Persistent(on_batch);
  on_big_ = Napi::Persistent(on_big);
  staging_ref_ = Napi::Persistent(staging.As<Napi::Object>());
  stage_ = staging.Data();
  stage_cap_ = staging.ByteLength();
}

void EventBuffer::StartPoll(EventBuffer* b, int fd) {
  Napi::Env env = b->env_;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    delete b;
    throw Napi::Error::New(env, "no libuv event loop");
  }
  b->poll_.data = b;
  int err = uv_poll_init(loop, &b->poll_, fd);
  if (err != 0) {
    delete b;
    throw MakeError(env, ErrnoText(-err), -err, nullptr);
  }
  b->polling_ = true;
  err = uv_poll_start(&b->poll_, UV_READABLE, &EventBuffer::OnPoll);
  if (err != 0) {
    b->Close();  // initialised: must be closed through libuv before the memory goes
    throw MakeError(env, ErrnoText(-err), -err, nullptr);
  }
}

bool EventBuffer::Stage(uint32_t cpu, const void* data, size_t size) {
  if (closing_) return false;
  size_t need = kRecordHeader + ((size + 7) & ~static_cast<size_t>(7));
  if (need > stage_cap_) {
    Flush();
    if (closing_) return false;
    Napi::HandleScope scope(env_);
    Napi::Buffer<uint8_t> copy = Napi::Buffer<uint8_t>::New(env_, need);
    uint32_t header[2] = {static_cast<uint32_t>(size), cpu};
    memcpy(copy.Data(), header, kRecordHeader);
    memcpy(copy.Data() + kRecordHeader, data, size);
    delivered_++;
    CallJs(on_big_, {copy});
    return !closing_;
  }
  if (stage_used_ + need > stage_cap_) {
    Flush();
    if (closing_) return false;
  }
  uint8_t* at = stage_ + stage_used_;
  uint32_t header[2] = {static_cast<uint32_t>(size), cpu};
  memcpy(at, header, kRecordHeader);
  memcpy(at + kRecordHeader, data, size);
  stage_used_ += need;
  staged_++;
  delivered_++;
  return true;
}

void EventBuffer::CallJs(const Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args) {
  try {
    // napi_make_callback wants an object as `this`.
    fn.MakeCallback(env_.Global(), args, async_);
  } catch (const Napi::Error&) {
    // Caught (and so cleared): a throwing handler must not take the process down.
    callback_errors_++;
  }
}

void EventBuffer::Flush() {
  if (staged_ == 0 && pending_lost_ == 0) return;
  uint32_t n = staged_;
  double lost = static_cast<double>(pending_lost_);
  staged_ = 0;
  stage_used_ = 0;
  pending_lost_ = 0;
  Napi::HandleScope scope(env_);
  CallJs(on_batch_, {Napi::Number::New(env_, n), Napi::Number::New(env_, lost)});
}

uint64_t EventBuffer::Drain(bool via_poll) {
  uint64_t before = delivered_;
  draining_ = true;
  if (via_poll) PollNative();
  if (!closing_) ConsumeNative();
  if (!closing_) Flush();
  draining_ = false;
  uint64_t n = delivered_ - before;
  if (closing_) FinishClose();  // a handler closed the buffer: `this` may be gone after this line
  return n;
}

uint64_t EventBuffer::Consume() {
  if (draining_ || closing_) return 0;
  return Drain(false);
}

void EventBuffer::OnPoll(uv_poll_t* handle, int status, int events) {
  EventBuffer* b = static_cast<EventBuffer*>(handle->data);
  if (b->draining_ || b->closing_) return;
  if (status < 0) {
    // The epoll fd failed: stop watching it; the drain timer still consumes.
    uv_poll_stop(&b->poll_);
    return;
  }
  Napi::HandleScope scope(b->env_);
  b->Drain(true);
}

void EventBuffer::Close() {
  if (closing_ && !draining_) return;
  closing_ = true;
  if (draining_) return;  // the running drain finishes the close
  FinishClose();
}

void EventBuffer::FinishClose() {
  if (polling_) {
    polling_ = false;
    uv_poll_stop(&poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), &EventBuffer::OnClosed);
    return;
  }
  delete this;
}

void EventBuffer::OnClosed(uv_handle_t* handle) { delete static_cast<EventBuffer*>(handle->data); }

// ---------------------------------------------------------------------------
// NativeObject methods (declared in object.h): open, consume, stats, close.

namespace {

void CheckCallbacks(const Napi::CallbackInfo& info, size_t at) {
  Napi::Env env = info.Env();
  if (!info[at].IsFunction() || !info[at + 1].IsFunction()) {
    throw Napi::TypeError::New(env, "callbacks must be functions");
  }
  if (!info[at + 2].IsTypedArray()) throw Napi::TypeError::New(env, "staging must be a Uint8Array");
}

}  // namespace

// ringOpen(index, onBatch, onBig, staging, poll) → buffer id
Napi::Value NativeObject::RingOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  if (bpf_map__type(m.map) != BPF_MAP_TYPE_RINGBUF) {
    throw StateError(env, "not-ringbuf", "map is not a ring buffer");
  }
  CheckCallbacks(info, 1);
  Ring* r = Ring::Open(env, bpf_map__fd(m.map), info[1].As<Napi::Function>(), info[2].As<Napi::Function>(),
                       info[3].As<Napi::Uint8Array>(), info[4].ToBoolean().Value());
  buffers_.push_back(r);
  return Napi::Number::New(env, static_cast<double>(buffers_.size() - 1));
}

// perfOpen(index, pageCount, onBatch, onBig, staging, poll) → buffer id
Napi::Value NativeObject::PerfOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  if (bpf_map__type(m.map) != BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
    throw StateError(env, "not-perf", "map is not a perf event array");
  }
  if (!info[1].IsNumber()) throw Napi::TypeError::New(env, "page count must be a number");
  CheckCallbacks(info, 2);
  size_t pages = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  Perf* p = Perf::Open(env, bpf_map__fd(m.map), pages, info[2].As<Napi::Function>(), info[3].As<Napi::Function>(),
                       info[4].As<Napi::Uint8Array>(), info[5].ToBoolean().Value());
  buffers_.push_back(p);
  return Napi::Number::New(env, static_cast<double>(buffers_.size() - 1));
}

EventBuffer* NativeObject::BufferAt(Napi::Env env, const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "event buffer id must be a number");
  int64_t i = v.As<Napi::Number>().Int64Value();
  if (i < 0 || static_cast<size_t>(i) >= buffers_.size()) throw Napi::RangeError::New(env, "no such event buffer");
  return buffers_[static_cast<size_t>(i)];
}

Napi::Value NativeObject::BufferConsume(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  EventBuffer* b = BufferAt(env, info[0]);
  if (b == nullptr) throw StateError(env, "closed", "event buffer is closed");
  return Napi::Number::New(env, static_cast<double>(b->Consume()));
}

Napi::Value NativeObject::BufferStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  if (closed_) return o;
  EventBuffer* b = BufferAt(env, info[0]);
  if (b == nullptr) return o;
  o.Set("delivered", static_cast<double>(b->delivered()));
  o.Set("lost", static_cast<double>(b->lost()));
  o.Set("callbackErrors", static_cast<double>(b->callback_errors()));
  return o;
}

void NativeObject::BufferClose(const Napi::CallbackInfo& info) {
  if (closed_) return;
  EventBuffer* b = BufferAt(info.Env(), info[0]);
  buffers_[static_cast<size_t>(info[0].As<Napi::Number>().Int64Value())] = nullptr;
  if (b != nullptr) b->Close();
}

void NativeObject::CloseBuffers() {
  for (EventBuffer*& b : buffers_) {
    if (b != nullptr) b->Close();
    b = nullptr;
  }
}

}  // namespace ebpf
