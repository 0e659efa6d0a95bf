// A libbpf perf buffer (BPF_MAP_TYPE_PERF_EVENT_ARRAY) consumed on the JS
// thread (delivery, draining and close order: buffers.h). Each record's header
// carries its CPU; records the kernel lost (a CPU's buffer was full) are
// counted (lost(), and per batch), never delivered.
//
// The drain timer is needed besides the uv_poll: a perf fd's poll() clears its
// readiness when read, and through a nested epoll (libuv's) a wake-up can be
// read before libuv sees it (see README.md, "Perf buffers").
#pragma once

#include <bpf/libbpf.h>

#include "buffers.h"

namespace ebpf {

class Perf final : public EventBuffer {
 public:
  // Throws a JS error (with errno and libbpf log) when the buffer cannot be set up.
  static Perf* Open(Napi::Env env, int map_fd, size_t page_cnt, Napi::Function on_batch, Napi::Function on_big,
                    Napi::Uint8Array staging, uint32_t drain_ms, bool poll);

 private:
  explicit Perf(Napi::Env env) : EventBuffer(env, "ebpf:perfbuf") {}
  ~Perf() override;

  static void OnSample(void* ctx, int cpu, void* data, __u32 size);
  static void OnLost(void* ctx, int cpu, __u64 cnt);
  // perf_buffer__poll(pb, 0) consumes the CPU buffers epoll reports ready;
  // perf_buffer__consume walks every CPU buffer (records that came without a
  // wake-up, e.g. with wakeup_events > 1).
  void PollNative() override { perf_buffer__poll(pb_, 0); }
  void ConsumeNative() override { perf_buffer__consume(pb_); }

  perf_buffer* pb_ = nullptr;
  // Our own descriptor of the perf event array: perf_buffer__free deletes the
  // map's entries through the fd it was given, and runs late (uv_close
  // callback), after the object may have closed its fd and a new map reused
  // the number. On the dup the deletes hit the right (old) map.
  int map_fd_ = -1;
};

}  // namespace ebpf
