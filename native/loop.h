// The event loop's longest busy stretch, measured without a timer (native/loop.cc).
#pragma once
#include <napi.h>

namespace ebpf {
void InitLoop(Napi::Env env, Napi::Object exports);
}
