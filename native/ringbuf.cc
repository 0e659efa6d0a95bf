#include "ringbuf.h"

#include <cerrno>
#include <cstring>

#include "capture.h"

namespace ebpf {

Ring* Ring::Open(Napi::Env env, int map_fd, Napi::Function on_batch, Napi::Function on_big,
                 Napi::Uint8Array staging, Napi::Uint32Array lens, bool poll) {
  if (staging.ByteLength() < 64 || lens.ElementLength() < 1) {
    throw Napi::TypeError::New(env, "ring buffer staging areas are too small");
  }
  Ring* r = new Ring(env);
  r->on_batch_ = Napi::Persistent(on_batch);
  r->on_big_ = Napi::Persistent(on_big);
  r->staging_ref_ = Napi::Persistent(staging.As<Napi::Object>());
  r->lens_ref_ = Napi::Persistent(lens.As<Napi::Object>());
  r->stage_ = staging.Data();
  r->stage_cap_ = staging.ByteLength();
  r->lens_ = lens.Data();
  r->lens_cap_ = lens.ElementLength();

  LogCapture log;
  r->rb_ = ring_buffer__new(map_fd, &Ring::OnSample, r, nullptr);
  if (r->rb_ == nullptr) {
    int err = errno;
    delete r;
    throw MakeError(env, ErrnoText(err), err, &log);
  }
  if (poll) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      delete r;
      throw Napi::Error::New(env, "no libuv event loop");
    }
    int fd = ring_buffer__epoll_fd(r->rb_);
    r->poll_.data = r;
    int err = uv_poll_init(loop, &r->poll_, fd);
    if (err == 0) {
      err = uv_poll_start(&r->poll_, UV_READABLE, &Ring::OnPoll);
      if (err != 0) {
        // Initialised: must be closed through libuv before the memory goes.
        r->polling_ = true;
        r->Close();
        throw MakeError(env, ErrnoText(-err), -err, nullptr);
      }
      r->polling_ = true;
    } else {
      delete r;
      throw MakeError(env, ErrnoText(-err), -err, nullptr);
    }
  }
  return r;
}

Ring::~Ring() {
  if (rb_ != nullptr) ring_buffer__free(rb_);
}

int Ring::OnSample(void* ctx, void* data, size_t size) {
  Ring* r = static_cast<Ring*>(ctx);
  if (r->closing_) return -ECANCELED;
  if (size > r->stage_cap_) {
    r->Flush();
    if (r->closing_) return -ECANCELED;
    Napi::HandleScope scope(r->env_);
    Napi::Buffer<uint8_t> copy = Napi::Buffer<uint8_t>::Copy(r->env_, static_cast<uint8_t*>(data), size);
    r->delivered_++;
    r->CallJs(r->on_big_, {copy});
    return r->closing_ ? -ECANCELED : 0;
  }
  size_t aligned = (size + 7) & ~static_cast<size_t>(7);
  if (r->stage_used_ + size > r->stage_cap_ || r->staged_ == r->lens_cap_) {
    r->Flush();
    if (r->closing_) return -ECANCELED;
  }
  memcpy(r->stage_ + r->stage_used_, data, size);
  r->lens_[r->staged_++] = static_cast<uint32_t>(size);
  r->stage_used_ += aligned;
  r->delivered_++;
  return 0;
}

void Ring::CallJs(const Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args) {
  try {
    // napi_make_callback wants an object as `this`.
    fn.MakeCallback(env_.Global(), args, async_);
  } catch (const Napi::Error&) {
    // Caught (and so cleared): a throwing handler must not take the process down.
    callback_errors_++;
  }
}

void Ring::Flush() {
  if (staged_ == 0) return;
  uint32_t n = staged_;
  Napi::HandleScope scope(env_);
  CallJs(on_batch_, {Napi::Number::New(env_, n)});
  staged_ = 0;
  stage_used_ = 0;
}

uint64_t Ring::Drain(bool via_poll) {
  uint64_t before = delivered_;
  draining_ = true;
  if (via_poll) ring_buffer__poll(rb_, 0);  // also clears the epoll readiness
  if (!closing_) ring_buffer__consume(rb_);
  if (!closing_) Flush();
  draining_ = false;
  uint64_t n = delivered_ - before;
  if (closing_) FinishClose();  // a handler closed the ring: `this` may be gone after this line
  return n;
}

uint64_t Ring::Consume() {
  if (draining_ || closing_) return 0;
  return Drain(false);
}

void Ring::OnPoll(uv_poll_t* handle, int status, int events) {
  Ring* r = static_cast<Ring*>(handle->data);
  if (r->draining_ || r->closing_) return;
  if (status < 0) {
    // The epoll fd failed: stop watching it; the drain timer still consumes.
    uv_poll_stop(&r->poll_);
    return;
  }
  Napi::HandleScope scope(r->env_);
  r->Drain(true);
}

void Ring::Close() {
  if (closing_ && !draining_) return;
  closing_ = true;
  if (draining_) return;  // the running drain finishes the close
  FinishClose();
}

void Ring::FinishClose() {
  if (polling_) {
    polling_ = false;
    uv_poll_stop(&poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), &Ring::OnClosed);
    return;
  }
  delete this;
}

void Ring::OnClosed(uv_handle_t* handle) {
  delete static_cast<Ring*>(handle->data);
}

}  // namespace ebpf
