#include "perfbuf.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "capture.h"

namespace ebpf {

Perf* Perf::Open(Napi::Env env, int map_fd, size_t page_cnt, Napi::Function on_batch, Napi::Function on_big,
                 Napi::Uint8Array staging, uint32_t drain_ms, bool poll) {
  Perf* p = new Perf(env);
  try {
    p->SetCallback(on_batch);
    p->SetStaging(on_big, staging);
  } catch (...) {
    delete p;
    throw;
  }
  p->map_fd_ = fcntl(map_fd, F_DUPFD_CLOEXEC, 0);
  if (p->map_fd_ < 0) {
    int err = errno;
    delete p;
    throw MakeError(env, ErrnoText(err), err, nullptr);
  }
  LogCapture log;
  errno = 0;
  p->pb_ = perf_buffer__new(p->map_fd_, page_cnt, &Perf::OnSample, &Perf::OnLost, p, nullptr);
  if (p->pb_ == nullptr) {
    int err = errno != 0 ? errno : EINVAL;
    delete p;
    throw MakeError(env, ErrnoText(err), err, &log);
  }
  StartDraining(p, drain_ms, poll ? perf_buffer__epoll_fd(p->pb_) : -1);
  return p;
}

Perf::~Perf() {
  if (pb_ != nullptr) perf_buffer__free(pb_);
  if (map_fd_ >= 0) close(map_fd_);
}

void Perf::OnSample(void* ctx, int cpu, void* data, __u32 size) {
  // perf_buffer__consume cannot be stopped from here: once closing, Stage drops the rest.
  static_cast<Perf*>(ctx)->Stage(static_cast<uint32_t>(cpu), data, size);
}

void Perf::OnLost(void* ctx, int cpu, __u64 cnt) { static_cast<Perf*>(ctx)->AddLost(cnt); }

}  // namespace ebpf
