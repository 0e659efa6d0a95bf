#include "ringbuf.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "capture.h"

namespace ebpf {

struct RingArea {
  void* consumer = MAP_FAILED;  // one page, read-write: the consumer position
  void* producer = MAP_FAILED;  // the producer page, then the data pages twice, read-only
  size_t page = 0;
  size_t size = 0;  // data bytes (a power of two)
  bool ring_done = false;
  bool buffer_done = false;

  uint64_t* consumer_pos() const { return static_cast<uint64_t*>(consumer); }
  const uint64_t* producer_pos() const { return static_cast<const uint64_t*>(producer); }
  uint8_t* data() const { return static_cast<uint8_t*>(producer) + page; }

  void Unmap() {
    if (consumer != MAP_FAILED) munmap(consumer, page);
    if (producer != MAP_FAILED) munmap(producer, page + 2 * size);
    consumer = producer = MAP_FAILED;
  }
  // One of the two owners is done; the last one frees.
  static void Release(RingArea* a, bool& mine) {
    mine = true;
    if (a->ring_done && a->buffer_done) {
      a->Unmap();
      delete a;
    }
  }
};

namespace {

void AreaCollected(Napi::Env, void*, RingArea* a) { RingArea::Release(a, a->buffer_done); }

}  // namespace

Ring* Ring::Open(Napi::Env env, int map_fd, uint32_t size, Napi::Function on_batch, uint32_t drain_ms, bool poll) {
  if (size == 0 || (size & (size - 1)) != 0) throw Napi::RangeError::New(env, "ring size must be a power of two");
  Ring* r = new Ring(env);
  r->SetCallback(on_batch);
  RingArea* a = new RingArea();
  a->page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  a->size = size;
  a->consumer = mmap(nullptr, a->page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
  if (a->consumer != MAP_FAILED) {
    a->producer = mmap(nullptr, a->page + 2 * a->size, PROT_READ, MAP_SHARED, map_fd, static_cast<off_t>(a->page));
  }
  if (a->producer == MAP_FAILED) {
    int err = errno;
    a->Unmap();
    delete a;
    delete r;
    throw MakeError(env, ErrnoText(err), err, nullptr);
  }
  r->area_ = a;
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, a->data(), 2 * a->size, &AreaCollected, a);
  r->area_ref_ = Napi::Reference<Napi::ArrayBuffer>::New(ab, 1);
  if (poll) {
    r->map_fd_ = fcntl(map_fd, F_DUPFD_CLOEXEC, 0);
    if (r->map_fd_ < 0) {
      int err = errno;
      r->Close();
      throw MakeError(env, ErrnoText(err), err, nullptr);
    }
  }
  StartDraining(r, drain_ms, r->map_fd_);
  return r;
}

void Ring::ConsumeNative() {
  RingArea* a = area_;
  const uint64_t mask = a->size - 1;
  uint8_t* data = a->data();
  uint64_t cons = __atomic_load_n(a->consumer_pos(), __ATOMIC_RELAXED);
  const uint64_t prod = __atomic_load_n(a->producer_pos(), __ATOMIC_ACQUIRE);
  uint64_t start = cons;
  uint32_t count = 0;
  while (cons < prod) {
    uint32_t word = __atomic_load_n(reinterpret_cast<uint32_t*>(data + (cons & mask)), __ATOMIC_ACQUIRE);
    if (word & BPF_RINGBUF_BUSY_BIT) break;  // reserved, not yet committed: the rest waits
    uint32_t len = word & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
    uint64_t next = cons + ((len + BPF_RINGBUF_HDR_SZ + 7) & ~static_cast<uint64_t>(7));
    if (word & BPF_RINGBUF_DISCARD_BIT) {
      if (count > 0) {
        Deliver(count, start & mask, cons - start);
        count = 0;
        // Delivered: never again, even when a handler closed the ring (the pages stay until the drain ends).
        __atomic_store_n(a->consumer_pos(), cons, __ATOMIC_RELEASE);
        if (closing()) return;
      }
      __atomic_store_n(a->consumer_pos(), next, __ATOMIC_RELEASE);
      start = next;
    } else {
      count++;
    }
    cons = next;
  }
  if (count > 0) Deliver(count, start & mask, cons - start);
  // Only now may the kernel reuse the bytes JS read.
  __atomic_store_n(a->consumer_pos(), cons, __ATOMIC_RELEASE);
}

void Ring::OnClose(bool from_js) {
  if (area_ == nullptr) return;
  RingArea* a = area_;
  area_ = nullptr;
  if (!area_ref_.IsEmpty()) {
    // JS may hold a view of the area: detached, every view reads as empty, so unmapping now is safe.
    // From a finalizer no JS call is allowed: the unmap waits for the ArrayBuffer to be collected.
    if (from_js) {
      Napi::HandleScope scope(area_ref_.Env());
      Napi::ArrayBuffer ab = area_ref_.Value();
      if (!ab.IsDetached()) ab.Detach();
      a->Unmap();
    }
    area_ref_.Reset();
  } else {
    a->buffer_done = true;  // no ArrayBuffer was made
  }
  RingArea::Release(a, a->ring_done);
}

Ring::~Ring() {
  if (area_ != nullptr) OnClose(false);
  if (map_fd_ >= 0) close(map_fd_);
}

}  // namespace ebpf
