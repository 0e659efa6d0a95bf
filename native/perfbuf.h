// A libbpf perf buffer (BPF_MAP_TYPE_PERF_EVENT_ARRAY) consumed on the JS thread.
//
// Same delivery model as ringbuf.h: records are copied into a JS-owned staging
// Buffer with their lengths in a Uint32Array; one onBatch(count) call hands
// over every record staged; a record larger than the staging buffer goes
// alone through onBig(copy). Records lost by the kernel (a CPU's buffer was
// full) are counted per buffer (lost()), never delivered.
//
// Polling: a uv_poll on perf_buffer__epoll_fd, whose callback consumes every
// CPU buffer, plus Consume() (perf_buffer__consume) from a JS timer. No thread.
// The timer is needed: a perf fd's poll() clears its readiness when read, and
// through a nested epoll (libuv's) a wake-up can be read before libuv sees it
// (see README.md, "Perf buffers").
//
// Close order as for rings: uv_poll_stop, uv_close, and perf_buffer__free
// only in the close callback (it closes the epoll fd that uv_poll watches).
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>
#include <uv.h>

#include <cstdint>

namespace ebpf {

class Perf {
 public:
  // Throws a JS error (with errno and libbpf log) when the buffer cannot be set up.
  static Perf* Open(Napi::Env env, int map_fd, size_t page_cnt, Napi::Function on_batch, Napi::Function on_big,
                    Napi::Uint8Array staging, Napi::Uint32Array lens, bool poll);

  // Drains every CPU buffer; returns records delivered. 0 from inside a handler.
  uint64_t Consume();
  // Stops delivery and releases the buffer; `this` is deleted now or in the
  // uv_close callback. Never use the pointer after Close().
  void Close();

  uint64_t delivered() const { return delivered_; }
  uint64_t lost() const { return lost_; }
  uint64_t callback_errors() const { return callback_errors_; }

 private:
  explicit Perf(Napi::Env env) : env_(env), async_(env, "ebpf:perfbuf") {}
  ~Perf();

  static void OnSample(void* ctx, int cpu, void* data, __u32 size);
  static void OnLost(void* ctx, int cpu, __u64 cnt);
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnClosed(uv_handle_t* handle);

  void Flush();
  void CallJs(const Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args);
  uint64_t Drain(bool via_poll);
  void FinishClose();

  Napi::Env env_;
  Napi::AsyncContext async_;
  perf_buffer* pb_ = nullptr;
  // Our own descriptor of the perf event array: perf_buffer__free deletes the
  // map's entries through the fd it was given, and runs late (uv_close
  // callback), after the object may have closed its fd and a new map reused
  // the number. On the dup the deletes hit the right (old) map.
  int map_fd_ = -1;
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
  uint64_t lost_ = 0;
  uint64_t callback_errors_ = 0;
};

}  // namespace ebpf
