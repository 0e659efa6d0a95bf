// Capabilities of every thread of the process (caps.cc): capsGet, capsSetAllThreads.
#pragma once

#include <napi.h>

namespace ebpf {

void InitCaps(Napi::Env env, Napi::Object exports);

}  // namespace ebpf
