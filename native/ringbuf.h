// A BPF ring buffer consumed on the JS thread, in place: its pages are mapped
// as the kernel lays them out (one read-write consumer page, then the producer
// page and the data pages mapped twice in a row, so a record never wraps), and
// each drain hands JS the span of committed records as one batch read straight
// from the data pages (buffers.h). The consumer position advances only when the
// JS call returned, so the kernel cannot reuse those bytes while JS reads them.
//
// Records submitted with BPF_RB_NO_WAKEUP are seen by the drain timer, never by
// the uv_poll (the kernel wakes pollers only when asked to).
//
// The kernel record header (u32 length with busy and discard bits, u32 page
// offset) is the batch header: a discarded record splits the batch, a busy one
// (reserved, not yet committed) ends it.
#pragma once

#include <cstdint>

#include "buffers.h"

namespace ebpf {

// The mapping, shared by the ring and the ArrayBuffer JS reads it through:
// freed when both let go (the ring at close, the ArrayBuffer when collected).
struct RingArea;

class Ring final : public EventBuffer {
 public:
  // Throws a JS error (with errno) when the ring cannot be mapped or watched.
  static Ring* Open(Napi::Env env, int map_fd, uint32_t size, Napi::Function on_batch, uint32_t drain_ms, bool poll);

  // The ArrayBuffer over the data pages (both copies).
  Napi::Value Area() { return area_ref_.Value(); }

 private:
  explicit Ring(Napi::Env env) : EventBuffer(env, "ebpf:ringbuf") {}
  ~Ring() override;

  void PollNative() override {}  // the consume that follows reads everything committed
  void ConsumeNative() override;
  void OnClose(bool from_js) override;

  RingArea* area_ = nullptr;
  Napi::Reference<Napi::ArrayBuffer> area_ref_;
  // Our own descriptor of the map for the uv_poll (the object may close its fd first).
  int map_fd_ = -1;
};

}  // namespace ebpf
