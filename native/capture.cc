#include "capture.h"

#include <bpf/libbpf.h>

#include <cctype>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace ebpf {

namespace {

thread_local LogCapture* current = nullptr;

// Keep the newest lines when a log is huge (a verifier log can reach MiBs).
constexpr size_t kMaxLines = 4000;

int PrintCallback(enum libbpf_print_level level, const char* fmt, va_list args) {
  LogCapture* cap = current;
  if (cap == nullptr) return 0;
  va_list copy;
  va_copy(copy, args);
  char small[512];
  int n = vsnprintf(small, sizeof small, fmt, copy);
  va_end(copy);
  if (n < 0) return 0;
  LogLevel lv = level == LIBBPF_WARN   ? LogLevel::Warn
                : level == LIBBPF_INFO ? LogLevel::Info
                                       : LogLevel::Debug;
  if (static_cast<size_t>(n) < sizeof small) {
    cap->Append(lv, small, static_cast<size_t>(n));
  } else {
    std::string big(static_cast<size_t>(n) + 1, '\0');
    vsnprintf(big.data(), big.size(), fmt, args);
    cap->Append(lv, big.data(), static_cast<size_t>(n));
  }
  return n;
}

}  // namespace

LogCapture::LogCapture() : outer_(current) { current = this; }

LogCapture::~LogCapture() {
  current = outer_;
}

void LogCapture::Append(LogLevel level, const char* text, size_t len) {
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (text[i] != '\n') continue;
    // A line split over several prints keeps the level of its first part.
    LogLevel lv = partial_.empty() ? level : partial_level_;
    partial_.append(text + start, i - start);
    std::string line = std::move(partial_);
    partial_.clear();
    if (line.rfind("libbpf: ", 0) == 0) line.erase(0, 8);
    if (lines_.size() >= kMaxLines) lines_.erase(lines_.begin(), lines_.begin() + kMaxLines / 4);
    lines_.push_back({lv, std::move(line)});
    start = i + 1;
  }
  if (start < len) {
    if (partial_.empty()) partial_level_ = level;
    partial_.append(text + start, len - start);
  }
}

void InstallPrintCallback() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  libbpf_set_print(PrintCallback);
}

std::string ErrnoName(int err) {
  if (err < 0) err = -err;
  switch (err) {
    case 524:
      return "ENOTSUPP";  // kernel-internal, leaks out of some BPF commands
  }
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
  if (err >= 4000 && err < 4100) return "LIBBPF_ERRNO_" + std::to_string(err);
  return "E" + std::to_string(err);
}

std::string ErrnoText(int err) {
  if (err < 0) err = -err;
  std::string meaning;
  if (err == 524) {
    meaning = "operation not supported by the kernel";
  } else if (err >= 4000 && err < 4100) {
    char buf[128];
    libbpf_strerror(-err, buf, sizeof buf);
    meaning = buf;
  } else {
    meaning = strerror(err);
  }
  for (char& c : meaning) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ErrnoName(err) + " (" + meaning + ")";
}

Napi::Array LogToJs(Napi::Env env, const std::vector<LogLine>& lines) {
  Napi::Array out = Napi::Array::New(env, lines.size());
  for (size_t i = 0; i < lines.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    const LogLine& l = lines[i];
    o.Set("level", l.level == LogLevel::Warn ? "warn" : l.level == LogLevel::Info ? "info" : "debug");
    o.Set("text", l.text);
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

Napi::Error MakeError(Napi::Env env, const std::string& message, int err,
                      const LogCapture* log) {
  if (err < 0) err = -err;
  Napi::Error e = Napi::Error::New(env, message);
  if (err != 0) {
    e.Set("errno", Napi::Number::New(env, err));
    e.Set("errnoName", Napi::String::New(env, ErrnoName(err)));
    e.Set("errnoText", Napi::String::New(env, ErrnoText(err)));
  }
  e.Set("log", log != nullptr ? LogToJs(env, log->lines()) : Napi::Array::New(env));
  return e;
}

Napi::Error StateError(Napi::Env env, const char* state, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("state", Napi::String::New(env, state));
  return e;
}

}  // namespace ebpf
