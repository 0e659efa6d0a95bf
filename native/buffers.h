// Event buffers (ring buffers and perf event arrays) consumed on the JS thread:
// the delivery both share. ringbuf.h and perfbuf.h only open, poll and free
// their libbpf object.
//
// Batches: records are copied into a staging Buffer that JS owns (given at
// open), each behind an 8-byte header — u32 length, u32 CPU (the perf CPU the
// record came from; 0 for a ring) — and padded to 8 bytes. One JS call per
// drain, onBatch(count, lost), hands over every record staged (several
// calls only when a drain fills the staging area); JS reads them with a
// DataView. `lost` is the records the kernel lost since the last batch (perf
// lost samples). A record larger than the staging area goes alone through
// onBig(copy), a Buffer in the same layout.
//
// Draining: Consume() from a JS timer (it also sees ring records submitted
// with BPF_RB_NO_WAKEUP, which epoll never reports), and, when `poll` is set,
// a uv_poll on the libbpf epoll fd.
//
// Close order (libbpf's free closes the epoll fd uv_poll watches): stop the
// uv_poll, uv_close it, and free the libbpf object only in the close callback.
// A Close() from inside a handler is deferred until the running drain returns.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>

namespace ebpf {

// Bytes before each staged record: u32 length, u32 CPU.
constexpr size_t kRecordHeader = 8;

class EventBuffer {
 public:
  // Drains every available record; returns how many were delivered. Returns 0
  // when called from inside one of this buffer's own handlers.
  uint64_t Consume();
  // Stops delivery and releases the buffer; `this` is deleted now or in the
  // uv_close callback. Never use the pointer after Close().
  void Close();

  uint64_t delivered() const { return delivered_; }
  // Records the kernel lost (perf lost samples; 0 for rings, whose programs count reserve failures).
  uint64_t lost() const { return lost_; }
  // JS exceptions that escaped onBatch/onBig (the TS wrapper catches its
  // handler's exceptions itself, so this stays 0 unless that wrapper throws).
  uint64_t callback_errors() const { return callback_errors_; }

 protected:
  EventBuffer(Napi::Env env, const char* resource) : env_(env), async_(env, resource) {}
  virtual ~EventBuffer() = default;

  // Keeps the callbacks and the staging area. Throws a TypeError when it is too small.
  void SetUp(Napi::Function on_batch, Napi::Function on_big, Napi::Uint8Array staging);
  // Watches `fd` (the libbpf epoll fd) with a uv_poll. On failure `b` is
  // disposed of (deleted, or closed through libuv) and a JS error thrown.
  static void StartPoll(EventBuffer* b, int fd);

  // From the libbpf sample callback: stages one record (flushing when the
  // staging area is full). False when the buffer is closing: stop the drain.
  bool Stage(uint32_t cpu, const void* data, size_t size);
  void AddLost(uint64_t n) {
    lost_ += n;
    pending_lost_ += n;
  }
  bool closing() const { return closing_; }

  // The libbpf calls: records epoll reported ready (also clears the
  // readiness), and every record available.
  virtual void PollNative() = 0;
  virtual void ConsumeNative() = 0;

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnClosed(uv_handle_t* handle);

  void Flush();
  void CallJs(const Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args);
  uint64_t Drain(bool via_poll);
  void FinishClose();

  Napi::Env env_;
  Napi::AsyncContext async_;
  uv_poll_t poll_{};
  bool polling_ = false;
  bool draining_ = false;
  bool closing_ = false;

  Napi::FunctionReference on_batch_;
  Napi::FunctionReference on_big_;
  Napi::ObjectReference staging_ref_;
  uint8_t* stage_ = nullptr;
  size_t stage_cap_ = 0;
  size_t stage_used_ = 0;
  uint32_t staged_ = 0;

  uint64_t delivered_ = 0;
  uint64_t lost_ = 0;
  uint64_t pending_lost_ = 0;
  uint64_t callback_errors_ = 0;
};

}  // namespace ebpf
