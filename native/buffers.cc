#include "buffers.h"

#include <cerrno>
#include <cstring>

#include "capture.h"
#include "object.h"
#include "perfbuf.h"
#include "ringbuf.h"

namespace ebpf {

void EventBuffer::SetStaging(Napi::Function on_big, Napi::Uint8Array staging) {
  if (staging.ByteLength() < 64) throw Napi::TypeError::New(env_, "event buffer staging area is too small");
  on_big_ = Napi::Persistent(on_big);
  staging_ref_ = Napi::Persistent(staging.As<Napi::Object>());
  stage_ = staging.Data();
  stage_cap_ = staging.ByteLength();
}

void EventBuffer::StartDraining(EventBuffer* b, uint32_t drain_ms, int fd) {
  Napi::Env env = b->env_;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    b->Close();
    throw Napi::Error::New(env, "no libuv event loop");
  }
  if (drain_ms > 0) {
    int err = uv_timer_init(loop, &b->timer_);
    if (err != 0) {
      b->Close();
      throw MakeError(env, ErrnoText(-err), -err, nullptr);
    }
    b->timer_.data = b;
    b->timing_ = true;
    b->base_ms_ = b->wait_ms_ = drain_ms;
    // The loop's clock is the start of this turn: after JS code that ran long before the open
    // (loading, attaching), the first tick would be due at once, find nothing yet, and back off to
    // twice the interval, long enough for a fast producer to fill the ring (the bench at 2M
    // records/s: the first batch 100-118 ms after the open, 4 MB ring full). Counted from now.
    uv_update_time(loop);
    uv_timer_start(&b->timer_, &EventBuffer::OnTimer, drain_ms, 0);
  }
  if (fd < 0) return;
  b->poll_.data = b;
  int err = uv_poll_init(loop, &b->poll_, fd);
  if (err != 0) {
    b->Close();
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
    // napi_make_callback wants an object as `this`. Called on the function, not the reference:
    // FunctionReference::MakeCallback opens an escapable handle scope, one malloc per call; the
    // handles live in the drain's scope (CallBatch) or the big record's (Stage).
    fn.Value().MakeCallback(env_.Global(), args, async_);
  } catch (const Napi::Error&) {
    // Caught (and so cleared): a throwing handler must not take the process down.
    callback_errors_++;
  }
}

void EventBuffer::Deliver(uint32_t count, size_t offset, size_t length) {
  delivered_ += count;
  CallBatch(count, offset, length);
}

void EventBuffer::CallBatch(uint32_t count, size_t offset, size_t length) {
  double lost = static_cast<double>(pending_lost_);
  pending_lost_ = 0;
  // The drain's handle scope, opened at its first call into JS and closed when the drain ends:
  // napi_open_handle_scope allocates, and a drain that finds nothing (an idle buffer's timer)
  // needs none.
  if (scope_ == nullptr && napi_open_handle_scope(env_, &scope_) != napi_ok) {
    scope_ = nullptr;
    callback_errors_++;
    return;
  }
  CallJs(on_batch_, {Napi::Number::New(env_, count), Napi::Number::New(env_, lost),
                     Napi::Number::New(env_, static_cast<double>(offset)),
                     Napi::Number::New(env_, static_cast<double>(length))});
}

void EventBuffer::Flush() {
  if (staged_ == 0 && pending_lost_ == 0) return;
  uint32_t n = staged_;
  size_t used = stage_used_;
  staged_ = 0;
  stage_used_ = 0;
  CallBatch(n, 0, used);  // Stage counted them

}

uint64_t EventBuffer::Drain(bool via_poll) {
  uint64_t before = delivered_;
  draining_ = true;
  if (via_poll) PollNative();
  if (!closing_) ConsumeNative();
  if (!closing_) Flush();
  draining_ = false;
  if (scope_ != nullptr) {
    napi_close_handle_scope(env_, scope_);
    scope_ = nullptr;
  }
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
    // The fd failed: stop watching it; the drain timer still consumes.
    uv_poll_stop(&b->poll_);
    return;
  }
  b->Drain(true);
}

void EventBuffer::OnTimer(uv_timer_t* handle) {
  EventBuffer* b = static_cast<EventBuffer*>(handle->data);
  if (b->closing_) return;
  b->timer_drains_++;
  uint64_t n = 0;
  if (!b->draining_) n = b->Drain(false);
  // Closed by a handler: `b` lives until the timer's close callback; do not restart.
  if (b->closing_) return;
  uint64_t idle_max = b->base_ms_ > kMaxIdleDrainMs ? b->base_ms_ : kMaxIdleDrainMs;
  b->wait_ms_ = n > 0 ? b->base_ms_ : (b->wait_ms_ * 2 < idle_max ? b->wait_ms_ * 2 : idle_max);
  uv_timer_start(&b->timer_, &EventBuffer::OnTimer, b->wait_ms_, 0);
}

void EventBuffer::Close(bool from_js) {
  if (closing_ && !draining_) return;
  closing_ = true;
  closed_from_js_ = closed_from_js_ && from_js;
  if (draining_) return;  // the running drain finishes the close
  FinishClose();
}

void EventBuffer::FinishClose() {
  OnClose(closed_from_js_);
  if (polling_) {
    polling_ = false;
    uv_poll_stop(&poll_);
    open_handles_++;
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), &EventBuffer::OnClosed);
  }
  if (timing_) {
    timing_ = false;
    uv_timer_stop(&timer_);
    open_handles_++;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &EventBuffer::OnClosed);
  }
  if (open_handles_ == 0) delete this;
}

void EventBuffer::OnClosed(uv_handle_t* handle) {
  EventBuffer* b = static_cast<EventBuffer*>(handle->data);
  if (--b->open_handles_ == 0) delete b;
}

// ---------------------------------------------------------------------------
// NativeObject methods (declared in object.h): open, area, consume, stats, close.

namespace {

uint32_t DrainMs(const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), "drain interval must be a number");
  double ms = v.As<Napi::Number>().DoubleValue();
  if (!(ms >= 0) || ms > 3600000) throw Napi::RangeError::New(v.Env(), "drain interval out of range");
  return static_cast<uint32_t>(ms);
}

}  // namespace

// ringOpen(index, onBatch, drainMs, poll) → buffer id; records are read in place (bufferArea(id)).
Napi::Value NativeObject::RingOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  if (bpf_map__type(m.map) != BPF_MAP_TYPE_RINGBUF) {
    throw StateError(env, "not-ringbuf", "map is not a ring buffer");
  }
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "callbacks must be functions");
  Ring* r = Ring::Open(env, bpf_map__fd(m.map), bpf_map__max_entries(m.map), info[1].As<Napi::Function>(),
                       DrainMs(info[2]), info[3].ToBoolean().Value());
  buffers_.push_back(r);
  return Napi::Number::New(env, static_cast<double>(buffers_.size() - 1));
}

// perfOpen(index, pageCount, onBatch, onBig, staging, drainMs, poll) → buffer id
Napi::Value NativeObject::PerfOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  if (bpf_map__type(m.map) != BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
    throw StateError(env, "not-perf", "map is not a perf event array");
  }
  if (!info[1].IsNumber()) throw Napi::TypeError::New(env, "page count must be a number");
  if (!info[2].IsFunction() || !info[3].IsFunction()) {
    throw Napi::TypeError::New(env, "callbacks must be functions");
  }
  if (!info[4].IsTypedArray()) throw Napi::TypeError::New(env, "staging must be a Uint8Array");
  size_t pages = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  Perf* p = Perf::Open(env, bpf_map__fd(m.map), pages, info[2].As<Napi::Function>(), info[3].As<Napi::Function>(),
                       info[4].As<Napi::Uint8Array>(), DrainMs(info[5]), info[6].ToBoolean().Value());
  buffers_.push_back(p);
  return Napi::Number::New(env, static_cast<double>(buffers_.size() - 1));
}

EventBuffer* NativeObject::BufferAt(Napi::Env env, const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "event buffer id must be a number");
  int64_t i = v.As<Napi::Number>().Int64Value();
  if (i < 0 || static_cast<size_t>(i) >= buffers_.size()) throw Napi::RangeError::New(env, "no such event buffer");
  return buffers_[static_cast<size_t>(i)];
}

// bufferArea(id) → the ArrayBuffer a ring's batches are read from (its data pages, mapped twice in a row).
Napi::Value NativeObject::BufferArea(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  EventBuffer* b = BufferAt(env, info[0]);
  Ring* r = dynamic_cast<Ring*>(b);
  if (r == nullptr) throw StateError(env, "not-ringbuf", "event buffer is not an open ring buffer");
  return r->Area();
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
  o.Set("timerDrains", static_cast<double>(b->timer_drains()));
  return o;
}

void NativeObject::BufferClose(const Napi::CallbackInfo& info) {
  if (closed_) return;
  EventBuffer* b = BufferAt(info.Env(), info[0]);
  buffers_[static_cast<size_t>(info[0].As<Napi::Number>().Int64Value())] = nullptr;
  if (b != nullptr) b->Close();
}

void NativeObject::CloseBuffers(bool from_js) {
  for (EventBuffer*& b : buffers_) {
    if (b != nullptr) b->Close(from_js);
    b = nullptr;
  }
}

}  // namespace ebpf
