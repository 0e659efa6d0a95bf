// Event buffers (ring buffers and perf event arrays) consumed on the JS thread:
// the delivery and draining both share. ringbuf.h and perfbuf.h read their
// kernel buffer.
//
// Batches: one JS call per drain, onBatch(count, lost, offset, length), hands
// over `count` records packed in `length` bytes from `offset` of the buffer's
// area, each behind an 8-byte header — u32 length, u32 CPU (the perf CPU the
// record came from; for a ring the kernel's own header word) — and padded to 8
// bytes. JS reads them in place with a DataView. For a ring the area is the
// ring's own memory (no copy); for a perf buffer it is a staging Buffer that JS
// owns (given at open), into which records are copied (several calls when a
// drain fills it). `lost` is the records the kernel lost since the last batch
// (perf lost samples). A perf record larger than the staging area goes alone
// through onBig(copy), a Buffer in the same layout.
//
// Draining: a uv_timer every `drain_ms` (it also sees ring records submitted
// with BPF_RB_NO_WAKEUP, which epoll never reports) enters JavaScript only when
// records came; an idle buffer is drained at doubling intervals up to
// kMaxIdleDrainMs. When `poll` is set, a uv_poll on the buffer's fd drains on
// wake-ups too. Consume() drains now (from JS). A drain allocates nothing until
// it calls JS: then one handle scope (napi_open_handle_scope mallocs, and with a
// uprobe on malloc live, as the default pipeline has, each malloc traps).
//
// Close order: stop both handles, uv_close them, and free the kernel buffer
// only when the last close callback ran (libbpf's free closes the epoll fd
// uv_poll watches). A Close() from inside a handler is deferred until the
// running drain returns.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>

namespace ebpf {

// Bytes before each record: u32 length, u32 CPU.
constexpr size_t kRecordHeader = 8;
// Longest wait between drains of an idle buffer: a 4 MiB ring holds ~0.8 s of 100k records/s.
constexpr uint64_t kMaxIdleDrainMs = 250;

class EventBuffer {
 public:
  // Drains every available record; returns how many were delivered. Returns 0
  // when called from inside one of this buffer's own handlers.
  uint64_t Consume();
  // Stops delivery and releases the buffer; `this` is deleted now or in the
  // last uv_close callback. Never use the pointer after Close(). `from_js`:
  // false from a GC finalizer (no JS calls then).
  void Close(bool from_js = true);

  uint64_t delivered() const { return delivered_; }
  // Records the kernel lost (perf lost samples; 0 for rings, whose programs count reserve failures).
  uint64_t lost() const { return lost_; }
  // JS exceptions that escaped onBatch/onBig (the TS wrapper catches its
  // handler's exceptions itself, so this stays 0 unless that wrapper throws).
  uint64_t callback_errors() const { return callback_errors_; }
  // Drain timer ticks since open (tests: an idle buffer backs off).
  uint64_t timer_drains() const { return timer_drains_; }

 protected:
  EventBuffer(Napi::Env env, const char* resource) : env_(env), async_(env, resource) {}
  virtual ~EventBuffer() = default;

  void SetCallback(Napi::Function on_batch) { on_batch_ = Napi::Persistent(on_batch); }
  // Perf: the staging area and the callback of records larger than it. Throws a TypeError when it is too small.
  void SetStaging(Napi::Function on_big, Napi::Uint8Array staging);
  // Starts the drain timer (drain_ms > 0) and the uv_poll on `fd` (fd ≥ 0). On
  // failure `b` is disposed of (deleted, or closed through libuv) and a JS error thrown.
  static void StartDraining(EventBuffer* b, uint32_t drain_ms, int fd);

  // From the libbpf sample callback: stages one record (flushing when the
  // staging area is full). False when the buffer is closing: stop the drain.
  bool Stage(uint32_t cpu, const void* data, size_t size);
  void AddLost(uint64_t n) {
    lost_ += n;
    pending_lost_ += n;
  }
  // Hands `count` records at [offset, offset + length) of the area to JS.
  void Deliver(uint32_t count, size_t offset, size_t length);
  bool closing() const { return closing_; }

  // The kernel reads: records epoll reported ready, and every record available.
  virtual void PollNative() = 0;
  virtual void ConsumeNative() = 0;
  // Called once when the buffer starts closing (before the handles close).
  virtual void OnClose(bool from_js) {}

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnTimer(uv_timer_t* handle);
  static void OnClosed(uv_handle_t* handle);

  void Flush();
  void CallBatch(uint32_t count, size_t offset, size_t length);
  void CallJs(const Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args);
  uint64_t Drain(bool via_poll);
  void FinishClose();

  Napi::Env env_;
  Napi::AsyncContext async_;
  uv_poll_t poll_{};
  uv_timer_t timer_{};
  bool polling_ = false;
  bool timing_ = false;
  int open_handles_ = 0;
  bool draining_ = false;
  // Open from the first JS call of a drain to its end (Drain closes it).
  napi_handle_scope scope_ = nullptr;
  bool closing_ = false;
  bool closed_from_js_ = true;
  uint64_t base_ms_ = 0;
  uint64_t wait_ms_ = 0;

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
  uint64_t timer_drains_ = 0;
};

}  // namespace ebpf
