// Test triggers that need the kernel's help (native/testing.cc).
#pragma once
#include <napi.h>

namespace ebpf {
void InitTesting(Napi::Env env, Napi::Object exports);
}
