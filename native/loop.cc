// The event loop's longest busy stretch between two waits, for nodejs_eventloop_lag_seconds.
//
// Node's monitorEventLoopDelay samples with a timer: at a 100 ms resolution it wakes the
// process 10 times a second, most of an idle agent's wake-ups. Here a uv_prepare handle runs
// once per loop iteration, just before the loop waits for I/O; libuv counts the time spent
// waiting (UV_METRICS_IDLE_TIME, which Node turns on for eventLoopUtilization). Between two
// prepare callbacks, wall time minus waiting time is what the loop spent running callbacks:
// the delay anything due in that stretch saw. No wake-ups of its own; the handle does not
// keep the loop alive.
#include "loop.h"

#include <uv.h>

#include <algorithm>

namespace ebpf {
namespace {

struct LoopBusy {
  uv_prepare_t* prepare = nullptr;  // freed by its close callback
  uv_loop_t* loop = nullptr;
  uint64_t last_ns = 0;
  uint64_t last_idle_ns = 0;
  uint64_t max_ns = 0;
  uint64_t iterations = 0;
};

LoopBusy busy;

void OnPrepare(uv_prepare_t* handle) {
  uint64_t now = uv_hrtime();
  uint64_t idle = uv_metrics_idle_time(busy.loop);
  uint64_t wall = now - busy.last_ns;
  uint64_t waited = idle - busy.last_idle_ns;
  busy.max_ns = std::max(busy.max_ns, wall > waited ? wall - waited : 0);
  busy.last_ns = now;
  busy.last_idle_ns = idle;
  busy.iterations++;
}

// loopBusyStart(): begin measuring (idempotent).
Napi::Value Start(const Napi::CallbackInfo& info) {
  if (busy.prepare != nullptr) return info.Env().Undefined();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(info.Env(), &loop) != napi_ok || loop == nullptr)
    throw Napi::Error::New(info.Env(), "no event loop");
  // A no-op when Node already turned it on; needed for uv_metrics_idle_time otherwise.
  uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
  busy.prepare = new uv_prepare_t;
  uv_prepare_init(loop, busy.prepare);
  uv_prepare_start(busy.prepare, OnPrepare);
  uv_unref(reinterpret_cast<uv_handle_t*>(busy.prepare));
  busy.loop = loop;
  busy.last_ns = uv_hrtime();
  busy.last_idle_ns = uv_metrics_idle_time(loop);
  busy.max_ns = 0;
  busy.iterations = 0;
  return info.Env().Undefined();
}

// loopBusyTake() → { maxMs, iterations }: the longest busy stretch since the last take
// (or start) and the loop iterations seen; both reset.
Napi::Value Take(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("maxMs", static_cast<double>(busy.max_ns) / 1e6);
  o.Set("iterations", static_cast<double>(busy.iterations));
  busy.max_ns = 0;
  busy.iterations = 0;
  return o;
}

// loopBusyStop(): stop measuring (idempotent); loopBusyStart() may begin again.
Napi::Value Stop(const Napi::CallbackInfo& info) {
  if (busy.prepare == nullptr) return info.Env().Undefined();
  uv_prepare_stop(busy.prepare);
  uv_close(reinterpret_cast<uv_handle_t*>(busy.prepare),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_prepare_t*>(h); });
  busy.prepare = nullptr;
  return info.Env().Undefined();
}

}  // namespace

void InitLoop(Napi::Env env, Napi::Object exports) {
  exports.Set("loopBusyStart", Napi::Function::New(env, Start));
  exports.Set("loopBusyTake", Napi::Function::New(env, Take));
  exports.Set("loopBusyStop", Napi::Function::New(env, Stop));
}

}  // namespace ebpf
