// A libbpf ring buffer consumed on the JS thread (delivery, draining and close
// order: buffers.h).
//
// Records submitted with BPF_RB_NO_WAKEUP are seen only by
// ring_buffer__consume (the drain timer), never by ring_buffer__poll.
#pragma once

#include <bpf/libbpf.h>

#include "buffers.h"

namespace ebpf {

class Ring final : public EventBuffer {
 public:
  // Throws a JS error (with errno and libbpf log) when the ring cannot be set up.
  static Ring* Open(Napi::Env env, int map_fd, Napi::Function on_batch, Napi::Function on_big,
                    Napi::Uint8Array staging, bool poll);

 private:
  explicit Ring(Napi::Env env) : EventBuffer(env, "ebpf:ringbuf") {}
  ~Ring() override;

  static int OnSample(void* ctx, void* data, size_t size);
  void PollNative() override { ring_buffer__poll(rb_, 0); }
  void ConsumeNative() override { ring_buffer__consume(rb_); }

  ring_buffer* rb_ = nullptr;
};

}  // namespace ebpf
