// Test triggers that need the kernel's help (see src/native/testing.ts).
#include "testing.h"

#include <linux/io_uring.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

#include "capture.h"

namespace {

// One io_uring with one read of an empty pipe, forced to an io-wq worker by
// IOSQE_ASYNC: the kernel starts an "iou-wrk-<tid>" thread in this process that
// blocks in the read until ioUringRelease writes the byte. With SQPOLL the ring
// has its own submission thread ("iou-sqp-<pid>") from its creation on.
struct Ring {
  int fd = -1;
  int pipe[2] = {-1, -1};
  void* sq = MAP_FAILED;
  size_t sq_len = 0;
  void* sqes = MAP_FAILED;
  size_t sqes_len = 0;
};
Ring g_ring;
char g_byte;

void Release() {
  if (g_ring.pipe[1] >= 0) {
    char b = 1;
    (void)!write(g_ring.pipe[1], &b, 1);
  }
  if (g_ring.sqes != MAP_FAILED) munmap(g_ring.sqes, g_ring.sqes_len);
  if (g_ring.sq != MAP_FAILED) munmap(g_ring.sq, g_ring.sq_len);
  for (int fd : {g_ring.fd, g_ring.pipe[0], g_ring.pipe[1]})
    if (fd >= 0) close(fd);
  g_ring = Ring{};
}

// ioUringThread(sqpoll: boolean): starts the kernel thread (see Ring); throws with the
// errno when the kernel refuses.
void IoUringThread(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool sqpoll = info[0].ToBoolean().Value();
  Release();
  auto fail = [&](const char* step) {
    int err = errno;
    Release();
    throw ebpf::MakeError(env, std::string(step) + ": " + ebpf::ErrnoText(err), err, nullptr);
  };
  io_uring_params p{};
  if (sqpoll) {
    p.flags = IORING_SETUP_SQPOLL;
    p.sq_thread_idle = 1000;  // ms
  }
  g_ring.fd = static_cast<int>(syscall(__NR_io_uring_setup, 4, &p));
  if (g_ring.fd < 0) fail("io_uring_setup");
  if (pipe2(g_ring.pipe, O_CLOEXEC) != 0) fail("pipe2");
  g_ring.sq_len = p.sq_off.array + p.sq_entries * sizeof(__u32);
  size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  if (cq_len > g_ring.sq_len) g_ring.sq_len = cq_len;  // one mapping for both rings (IORING_FEAT_SINGLE_MMAP)
  g_ring.sq = mmap(nullptr, g_ring.sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, g_ring.fd, IORING_OFF_SQ_RING);
  if (g_ring.sq == MAP_FAILED) fail("mmap sq ring");
  g_ring.sqes_len = p.sq_entries * sizeof(io_uring_sqe);
  g_ring.sqes = mmap(nullptr, g_ring.sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, g_ring.fd, IORING_OFF_SQES);
  if (g_ring.sqes == MAP_FAILED) fail("mmap sqes");
  char* sq = static_cast<char*>(g_ring.sq);
  auto* sqe = static_cast<io_uring_sqe*>(g_ring.sqes);
  *sqe = io_uring_sqe{};
  sqe->opcode = IORING_OP_READ;
  sqe->flags = IOSQE_ASYNC;
  sqe->fd = g_ring.pipe[0];
  sqe->addr = reinterpret_cast<__u64>(&g_byte);
  sqe->len = 1;
  sqe->user_data = 1;
  auto* tail = reinterpret_cast<std::atomic<__u32>*>(sq + p.sq_off.tail);
  __u32 t = tail->load(std::memory_order_relaxed);
  reinterpret_cast<__u32*>(sq + p.sq_off.array)[t & *reinterpret_cast<__u32*>(sq + p.sq_off.ring_mask)] = 0;
  tail->store(t + 1, std::memory_order_release);
  if (sqpoll) return;  // the SQPOLL thread exists; it takes the read when it polls
  if (syscall(__NR_io_uring_enter, g_ring.fd, 1, 0, 0, nullptr, 0) != 1) fail("io_uring_enter");
}

// ioUringRelease(): completes the read and closes the ring.
void IoUringRelease(const Napi::CallbackInfo& info) { Release(); }

}  // namespace

namespace ebpf {

void InitTesting(Napi::Env env, Napi::Object exports) {
  exports.Set("ioUringThread", Napi::Function::New(env, IoUringThread));
  exports.Set("ioUringRelease", Napi::Function::New(env, IoUringRelease));
}

}  // namespace ebpf
