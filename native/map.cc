#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "capture.h"
#include "object.h"

// NativeObject's maps: listing, single elements, batch update and whole-map reads (see README.md).

namespace ebpf {

namespace {

// Entries per bpf_map_lookup_batch call: 1k–4k are as fast as one whole-map
// call on this machine kind, and bound the kernel's temporary allocation.
constexpr uint32_t kBatchChunk = 4096;

bool IsPerCpu(bpf_map_type t) {
  return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY ||
         t == BPF_MAP_TYPE_LRU_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

size_t ValueStride(const bpf_map* m) {
  size_t vs = bpf_map__value_size(m);
  if (!IsPerCpu(bpf_map__type(m))) return vs;
  int cpus = libbpf_num_possible_cpus();
  return ((vs + 7) & ~static_cast<size_t>(7)) * static_cast<size_t>(cpus > 0 ? cpus : 1);
}

}  // namespace

Napi::Value NativeObject::Maps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  Napi::Array out = Napi::Array::New(env, maps_.size());
  int cpus = libbpf_num_possible_cpus();
  for (size_t i = 0; i < maps_.size(); i++) {
    const bpf_map* m = maps_[i].map;
    bool percpu = IsPerCpu(bpf_map__type(m));
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", bpf_map__name(m));
    const char* type = libbpf_bpf_map_type_str(bpf_map__type(m));
    o.Set("type", type != nullptr ? type : "unknown");
    o.Set("keySize", bpf_map__key_size(m));
    o.Set("valueSize", bpf_map__value_size(m));
    o.Set("maxEntries", bpf_map__max_entries(m));
    o.Set("perCpu", Napi::Boolean::New(env, percpu));
    o.Set("numCpus", percpu ? cpus : 1);
    o.Set("valueStride", static_cast<double>(ValueStride(m)));
    o.Set("internal", Napi::Boolean::New(env, bpf_map__is_internal(m)));
    // Created maps: the kernel's map id (what a program reads as `map->id`).
    int fd = bpf_map__fd(m);
    if (fd >= 0) {
      bpf_map_info minfo = {};
      __u32 len = sizeof(minfo);
      if (bpf_obj_get_info_by_fd(fd, &minfo, &len) == 0) o.Set("id", Napi::Number::New(env, minfo.id));
    }
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}


// mapLookup(index, key, valueOut) → found
Napi::Value NativeObject::MapLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  Napi::Buffer<uint8_t> key = BufferArg(info, 1, "key");
  Napi::Buffer<uint8_t> out = BufferArg(info, 2, "value");
  if (key.Length() != bpf_map__key_size(m.map)) throw Napi::RangeError::New(env, "key size mismatch");
  if (out.Length() < ValueStride(m.map)) throw Napi::RangeError::New(env, "value buffer too small");
  int err = bpf_map_lookup_elem(bpf_map__fd(m.map), key.Data(), out.Data());
  if (err == 0) return Napi::Boolean::New(env, true);
  err = errno;
  if (err == ENOENT) return Napi::Boolean::New(env, false);
  throw MakeError(env, ErrnoText(err), err, nullptr);
}

// mapUpdate(index, key, value, flags)
void NativeObject::MapUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  Napi::Buffer<uint8_t> key = BufferArg(info, 1, "key");
  Napi::Buffer<uint8_t> value = BufferArg(info, 2, "value");
  uint64_t flags = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int64Value() : 0;
  if (key.Length() != bpf_map__key_size(m.map)) throw Napi::RangeError::New(env, "key size mismatch");
  if (value.Length() != ValueStride(m.map)) throw Napi::RangeError::New(env, "value size mismatch");
  int err = bpf_map_update_elem(bpf_map__fd(m.map), key.Data(), value.Data(), flags);
  if (err != 0) {
    err = errno;
    throw MakeError(env, ErrnoText(err), err, nullptr);
  }
}

// mapUpdateBatch(index, keys, values, count, flags) → entries updated
Napi::Value NativeObject::MapUpdateBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  Napi::Buffer<uint8_t> keys = BufferArg(info, 1, "keys");
  Napi::Buffer<uint8_t> values = BufferArg(info, 2, "values");
  uint32_t count = info[3].As<Napi::Number>().Uint32Value();
  uint64_t flags = info.Length() > 4 && info[4].IsNumber() ? info[4].As<Napi::Number>().Int64Value() : 0;
  size_t ks = bpf_map__key_size(m.map), vs = ValueStride(m.map);
  if (keys.Length() < count * ks || values.Length() < count * vs) {
    throw Napi::RangeError::New(env, "buffers smaller than count entries");
  }
  uint32_t done = 0;
  if (flags != 0) {
    // The kernel's batch update takes no BPF_NOEXIST/BPF_EXIST (EINVAL): one by one.
    for (; done < count; done++) {
      if (bpf_map_update_elem(bpf_map__fd(m.map), keys.Data() + done * ks, values.Data() + done * vs, flags) != 0) {
        int err = errno;
        Napi::Error e = MakeError(env, ErrnoText(err), err, nullptr);
        e.Set("done", Napi::Number::New(env, done));
        throw e;
      }
    }
    return Napi::Number::New(env, done);
  }
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  while (done < count) {
    uint32_t n = std::min(count - done, kBatchChunk);
    int err = bpf_map_update_batch(bpf_map__fd(m.map), keys.Data() + done * ks, values.Data() + done * vs, &n, &opts);
    done += n;
    if (err != 0) {
      Napi::Error e = MakeError(env, ErrnoText(err), err, nullptr);
      e.Set("done", Napi::Number::New(env, done));
      throw e;
    }
  }
  return Napi::Number::New(env, done);
}

// mapDelete(index, key) → existed
Napi::Value NativeObject::MapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  Napi::Buffer<uint8_t> key = BufferArg(info, 1, "key");
  if (key.Length() != bpf_map__key_size(m.map)) throw Napi::RangeError::New(env, "key size mismatch");
  int err = bpf_map_delete_elem(bpf_map__fd(m.map), key.Data());
  if (err == 0) return Napi::Boolean::New(env, true);
  err = errno;
  if (err == ENOENT) return Napi::Boolean::New(env, false);
  throw MakeError(env, ErrnoText(err), err, nullptr);
}

// mapRead(index, keys, values, offset, resume) → n
//
// Reads entries into keys/values from entry `offset` on until the end of the
// map (returns the total count n ≥ 0) or until the buffers are full (returns
// -1 - count: grow the buffers, keep the first count entries, and call again
// with offset = count and resume = true). Batch lookup in chunks where the
// kernel has it; get_next_key + lookup where it does not (decided by the
// first call on this map and remembered).
Napi::Value NativeObject::MapRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  Napi::Buffer<uint8_t> keys = BufferArg(info, 1, "keys");
  Napi::Buffer<uint8_t> values = BufferArg(info, 2, "values");
  size_t off = info[3].As<Napi::Number>().Uint32Value();
  bool resume = info[4].ToBoolean().Value();
  int fd = bpf_map__fd(m.map);
  size_t ks = bpf_map__key_size(m.map), vs = ValueStride(m.map);
  size_t cap = std::min(keys.Length() / ks, values.Length() / vs);
  if (off > cap || (!resume && off != 0)) throw Napi::RangeError::New(env, "bad read offset");
  uint8_t* kp = keys.Data();
  uint8_t* vp = values.Data();
  auto more = [&](size_t n) { return Napi::Number::New(env, -1.0 - static_cast<double>(n)); };
  auto done = [&](size_t n) { return Napi::Number::New(env, static_cast<double>(n)); };

  if (!m.batch_unsupported) {
    if (!resume) m.have_token = false;
    while (off < cap) {
      uint32_t want = static_cast<uint32_t>(std::min<size_t>(cap - off, kBatchChunk));
      uint32_t n = want;
      LIBBPF_OPTS(bpf_map_batch_opts, opts);
      int err = bpf_map_lookup_batch(fd, m.have_token ? m.token_in.data() : nullptr, m.token_out.data(),
                                     kp + off * ks, vp + off * vs, &n, &opts);
      if (err != 0 && err != -ENOENT) {
        bool first = !m.batch_tried && !m.have_token;
        if (first && (err == -EINVAL || err == -524 || err == -EOPNOTSUPP)) {
          m.batch_unsupported = true;  // e.g. a map type without batch ops
          break;
        }
        if (err == -ENOSPC) {
          // One hash bucket holds more entries than `want`: retry with all the room left.
          if (want < cap - off) {
            n = static_cast<uint32_t>(cap - off);
            err = bpf_map_lookup_batch(fd, m.have_token ? m.token_in.data() : nullptr, m.token_out.data(),
                                       kp + off * ks, vp + off * vs, &n, &opts);
          }
          if (err == -ENOSPC) return more(off);
        }
        if (err != 0 && err != -ENOENT) throw MakeError(env, ErrnoText(err), err, nullptr);
      }
      m.batch_tried = true;
      off += n;
      if (err == -ENOENT) {
        m.have_token = false;
        return done(off);
      }
      std::swap(m.token_in, m.token_out);
      m.have_token = true;
    }
    if (!m.batch_unsupported) return more(off);
  }

  // Key-by-key walk.
  const uint8_t* prev = nullptr;
  if (resume && off > 0) {
    memcpy(m.walk_prev.data(), kp + (off - 1) * ks, ks);
    prev = m.walk_prev.data();
  }
  while (off < cap) {
    uint8_t* k = kp + off * ks;
    if (bpf_map_get_next_key(fd, prev, k) != 0) {
      int err = errno;
      if (err == ENOENT) return done(off);
      throw MakeError(env, ErrnoText(err), err, nullptr);
    }
    memcpy(m.walk_prev.data(), k, ks);
    prev = m.walk_prev.data();
    if (bpf_map_lookup_elem(fd, k, vp + off * vs) != 0) {
      int err = errno;
      if (err == ENOENT) continue;  // deleted since get_next_key: skip it
      throw MakeError(env, ErrnoText(err), err, nullptr);
    }
    off++;
  }
  return more(off);
}

Napi::Value NativeObject::MapReadMethod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapState& m = MapAt(env, info[0]);
  return Napi::String::New(env, m.batch_unsupported ? "walk" : "batch");
}

}  // namespace ebpf
