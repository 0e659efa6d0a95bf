// A libbpf ring buffer consumed on the JS thread.
//
// Records are copied into a staging Buffer that JS owns (given at open) with
// their lengths in a Uint32Array; one JS call (onBatch(count)) hands over
// every record staged, so the per-record cost in JS is a subarray and a
// handler call. A record larger than the staging buffer goes alone through
// onBig(copy).
//
// Draining: Consume() (ring_buffer__consume: sees records submitted with
// BPF_RB_NO_WAKEUP, which ring_buffer__poll never reports) from a JS timer,
// and, when `poll` is set, a uv_poll on ring_buffer__epoll_fd for records
// submitted with a wake-up.
//
// Close order (libbpf's ring_buffer__free closes the epoll fd uv_poll
// watches): stop the uv_poll, uv_close it, and free the ring buffer only in
// the close callback. A Close() from inside a handler is deferred until the
// running drain returns.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>
#include <uv.h>

#include <cstdint>

namespace ebpf {

class Ring {
 public:
  // Throws a JS error (with errno and libbpf log) when the ring cannot be set up.
  static Ring* Open(Napi::Env env, int map_fd, Napi::Function on_batch, Napi::Function on_big,
                    Napi::Uint8Array staging, Napi::Uint32Array lens, bool poll);

  // Drains every available record; returns how many were delivered. Returns 0
  // when called from inside one of this ring's own handlers.
  uint64_t Consume();
  // Stops delivery and releases the ring; `this` is deleted now or in the
  // uv_close callback. Never use the pointer after Close().
  void Close();

  uint64_t delivered() const { return delivered_; }
  // JS exceptions that escaped onBatch/onBig (the TS wrapper catches its
  // handler's exceptions itself, so this stays 0 unless that wrapper throws).
  uint64_t callback_errors() const { return callback_errors_; }

 private:
  Ring(Napi::Env env) : env_(env), async_(env, "ebpf:ringbuf") {}
  ~Ring();

  static int OnSample(void* ctx, void* data, size_t size);
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnClosed(uv_handle_t* handle);

  void Flush();
  void CallJs(const Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args);
  uint64_t Drain(bool via_poll);
  void FinishClose();

  Napi::Env env_;
  Napi::AsyncContext async_;
  ring_buffer* rb_ = nullptr;
  uv_poll_t poll_{};
  bool polling_ = false;
  bool draining_ = false;
  bool closing_ = false;

  Napi::FunctionReference on_batch_;
  Napi::FunctionReference on_big_;
  Napi::ObjectReference staging_ref_;
  Napi::ObjectReference lens_ref_;
  uint8_t* stage_ = nullptr;
  size_t stage_cap_ = 0;
  uint32_t* lens_ = nullptr;
  size_t lens_cap_ = 0;
  size_t stage_used_ = 0;
  uint32_t staged_ = 0;

  uint64_t delivered_ = 0;
  uint64_t callback_errors_ = 0;
};

}  // namespace ebpf
