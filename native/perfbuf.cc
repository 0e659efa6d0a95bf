#include "perfbuf.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "capture.h"
#include "object.h"

namespace ebpf {

namespace {
Napi::Error StateErrorFor(Napi::Env env, const char* state, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("state", Napi::String::New(env, state));
  return e;
}
}  // namespace

Perf* Perf::Open(Napi::Env env, int map_fd, size_t page_cnt, Napi::Function on_batch, Napi::Function on_big,
                 Napi::Uint8Array staging, Napi::Uint32Array lens, bool poll) {
  if (staging.ByteLength() < 64 || lens.ElementLength() < 1) {
    throw Napi::TypeError::New(env, "perf buffer staging areas are too small");
  }
  Perf* p = new Perf(env);
  p->on_batch_ = Napi::Persistent(on_batch);
  p->on_big_ = Napi::Persistent(on_big);
  p->staging_ref_ = Napi::Persistent(staging.As<Napi::Object>());
  p->lens_ref_ = Napi::Persistent(lens.As<Napi::Object>());
  p->stage_ = staging.Data();
  p->stage_cap_ = staging.ByteLength();
  p->lens_ = lens.Data();
  p->lens_cap_ = lens.ElementLength();

  p->map_fd_ = fcntl(map_fd, F_DUPFD_CLOEXEC, 0);
  if (p->map_fd_ < 0) {
    int err = errno;
    delete p;
    throw MakeError(env, ErrnoText(err), err, nullptr);
  }
  LogCapture log;
  errno = 0;
  p->pb_ = perf_buffer__new(p->map_fd_, page_cnt, &Perf::OnSample, &Perf::OnLost, p, nullptr);
  if (p->pb_ == nullptr) {
    int err = errno != 0 ? errno : EINVAL;
    delete p;
    throw MakeError(env, ErrnoText(err), err, &log);
  }
  if (poll) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      delete p;
      throw Napi::Error::New(env, "no libuv event loop");
    }
    p->poll_.data = p;
    int err = uv_poll_init(loop, &p->poll_, perf_buffer__epoll_fd(p->pb_));
    if (err != 0) {
      delete p;
      throw MakeError(env, ErrnoText(-err), -err, nullptr);
    }
    p->polling_ = true;
    err = uv_poll_start(&p->poll_, UV_READABLE, &Perf::OnPoll);
    if (err != 0) {
      p->Close();  // initialised: must be closed through libuv
      throw MakeError(env, ErrnoText(-err), -err, nullptr);
    }
  }
  return p;
}

Perf::~Perf() {
  if (pb_ != nullptr) perf_buffer__free(pb_);
  if (map_fd_ >= 0) close(map_fd_);
}

void Perf::OnSample(void* ctx, int cpu, void* data, __u32 size) {
  Perf* p = static_cast<Perf*>(ctx);
  if (p->closing_) return;
  if (size > p->stage_cap_) {
    p->Flush();
    if (p->closing_) return;
    Napi::HandleScope scope(p->env_);
    Napi::Buffer<uint8_t> copy = Napi::Buffer<uint8_t>::Copy(p->env_, static_cast<uint8_t*>(data), size);
    p->delivered_++;
    p->CallJs(p->on_big_, {copy});
    return;
  }
  size_t aligned = (static_cast<size_t>(size) + 7) & ~static_cast<size_t>(7);
  if (p->stage_used_ + size > p->stage_cap_ || p->staged_ == p->lens_cap_) {
    p->Flush();
    if (p->closing_) return;
  }
  memcpy(p->stage_ + p->stage_used_, data, size);
  p->lens_[p->staged_++] = size;
  p->stage_used_ += aligned;
  p->delivered_++;
}

void Perf::OnLost(void* ctx, int cpu, __u64 cnt) { static_cast<Perf*>(ctx)->lost_ += cnt; }

void Perf::CallJs(const Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args) {
  try {
    fn.MakeCallback(env_.Global(), args, async_);
  } catch (const Napi::Error&) {
    callback_errors_++;  // caught and cleared: a throwing handler must not take the process down
  }
}

void Perf::Flush() {
  if (staged_ == 0) return;
  uint32_t n = staged_;
  Napi::HandleScope scope(env_);
  CallJs(on_batch_, {Napi::Number::New(env_, n)});
  staged_ = 0;
  stage_used_ = 0;
}

uint64_t Perf::Drain(bool via_poll) {
  uint64_t before = delivered_;
  draining_ = true;
  // perf_buffer__poll(pb, 0) consumes the CPU buffers epoll reports ready;
  // perf_buffer__consume walks every CPU buffer (records that came without a
  // wake-up, e.g. with wakeup_events > 1).
  if (via_poll) perf_buffer__poll(pb_, 0);
  if (!closing_) perf_buffer__consume(pb_);
  if (!closing_) Flush();
  draining_ = false;
  uint64_t n = delivered_ - before;
  if (closing_) FinishClose();  // a handler closed it: `this` may be gone after this line
  return n;
}

uint64_t Perf::Consume() {
  if (draining_ || closing_) return 0;
  return Drain(false);
}

void Perf::OnPoll(uv_poll_t* handle, int status, int events) {
  Perf* p = static_cast<Perf*>(handle->data);
  if (p->draining_ || p->closing_) return;
  if (status < 0) {
    uv_poll_stop(&p->poll_);  // the drain timer still consumes
    return;
  }
  Napi::HandleScope scope(p->env_);
  p->Drain(true);
}

void Perf::Close() {
  if (closing_ && !draining_) return;
  closing_ = true;
  if (draining_) return;  // the running drain finishes the close
  FinishClose();
}

void Perf::FinishClose() {
  if (polling_) {
    polling_ = false;
    uv_poll_stop(&poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), &Perf::OnClosed);
    return;
  }
  delete this;
}

void Perf::OnClosed(uv_handle_t* handle) { delete static_cast<Perf*>(handle->data); }

// ---------------------------------------------------------------------------
// NativeObject methods (declared in object.h, kept here with the perf buffer).

// perfOpen(index, pageCount, onBatch, onBig, staging, lens, poll) → perf buffer id
Napi::Value NativeObject::PerfOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  if (bpf_map__type(m.map) != BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
    throw StateErrorFor(env, "not-perf", "map is not a perf event array");
  }
  if (!info[1].IsNumber()) throw Napi::TypeError::New(env, "page count must be a number");
  if (!info[2].IsFunction() || !info[3].IsFunction()) throw Napi::TypeError::New(env, "callbacks must be functions");
  if (!info[4].IsTypedArray() || !info[5].IsTypedArray()) throw Napi::TypeError::New(env, "staging must be typed arrays");
  size_t pages = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  Perf* p = Perf::Open(env, bpf_map__fd(m.map), pages, info[2].As<Napi::Function>(), info[3].As<Napi::Function>(),
                       info[4].As<Napi::Uint8Array>(), info[5].As<Napi::Uint32Array>(), info[6].ToBoolean().Value());
  perfs_.push_back(p);
  return Napi::Number::New(env, static_cast<double>(perfs_.size() - 1));
}

static Perf* PerfAt(Napi::Env env, std::vector<Perf*>& perfs, const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "perf buffer id must be a number");
  int64_t i = v.As<Napi::Number>().Int64Value();
  if (i < 0 || static_cast<size_t>(i) >= perfs.size()) throw Napi::RangeError::New(env, "no such perf buffer");
  return perfs[static_cast<size_t>(i)];
}

Napi::Value NativeObject::PerfConsume(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  Perf* p = PerfAt(env, perfs_, info[0]);
  if (p == nullptr) throw StateErrorFor(env, "closed", "perf buffer is closed");
  return Napi::Number::New(env, static_cast<double>(p->Consume()));
}

Napi::Value NativeObject::PerfStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  if (closed_) return o;
  Perf* p = PerfAt(env, perfs_, info[0]);
  if (p == nullptr) return o;
  o.Set("delivered", static_cast<double>(p->delivered()));
  o.Set("lost", static_cast<double>(p->lost()));
  o.Set("callbackErrors", static_cast<double>(p->callback_errors()));
  return o;
}

void NativeObject::PerfClose(const Napi::CallbackInfo& info) {
  if (closed_) return;
  Napi::Env env = info.Env();
  Perf*& slot = perfs_.at(static_cast<size_t>(info[0].As<Napi::Number>().Int64Value()));
  Perf* p = slot;
  slot = nullptr;
  if (p != nullptr) p->Close();
  (void)env;
}

void NativeObject::ClosePerfs() {
  for (Perf*& p : perfs_) {
    if (p != nullptr) p->Close();
    p = nullptr;
  }
}

}  // namespace ebpf
