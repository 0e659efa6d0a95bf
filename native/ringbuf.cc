#include "ringbuf.h"

#include <cerrno>

#include "capture.h"

namespace ebpf {

Ring* Ring::Open(Napi::Env env, int map_fd, Napi::Function on_batch, Napi::Function on_big, Napi::Uint8Array staging,
                 bool poll) {
  Ring* r = new Ring(env);
  try {
    r->SetUp(on_batch, on_big, staging);
  } catch (...) {
    delete r;
    throw;
  }
  LogCapture log;
  r->rb_ = ring_buffer__new(map_fd, &Ring::OnSample, r, nullptr);
  if (r->rb_ == nullptr) {
    int err = errno;
    delete r;
    throw MakeError(env, ErrnoText(err), err, &log);
  }
  if (poll) StartPoll(r, ring_buffer__epoll_fd(r->rb_));
  return r;
}

Ring::~Ring() {
  if (rb_ != nullptr) ring_buffer__free(rb_);
}

int Ring::OnSample(void* ctx, void* data, size_t size) {
  // A negative return stops ring_buffer__consume: the ring is closing.
  return static_cast<Ring*>(ctx)->Stage(0, data, size) ? 0 : -ECANCELED;
}

}  // namespace ebpf
