{
  "targets": [
    {
      "target_name": "ebpf_native",
      "sources": ["addon.cc", "capture.cc", "object.cc", "program.cc", "map.cc", "buffers.cc", "ringbuf.cc", "perfbuf.cc", "attach.cc", "caps.cc", "loop.cc", "testing.cc"],
      "include_dirs": ["../node_modules/node-addon-api"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    },
    {
      "target_name": "ebpf-collector-init",
      "type": "executable",
      "sources": ["init.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
