// libbpf log capture and errno naming.
//
// libbpf reports through one process-wide print callback. We install ours once
// and collect its lines per operation: an operation opens a LogCapture on the
// stack, every libbpf call it makes appends there (on this thread), and the
// lines travel up with the result or the error. Outside a capture, libbpf's
// output is dropped: the addon never writes to stderr.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

namespace ebpf {

enum class LogLevel : int { Warn = 0, Info = 1, Debug = 2 };

struct LogLine {
  LogLevel level;
  std::string text;
};

class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  const std::vector<LogLine>& lines() const { return lines_; }
  void Append(LogLevel level, const char* text, size_t len);

 private:
  std::vector<LogLine> lines_;
  std::string partial_;
  LogLevel partial_level_ = LogLevel::Warn;
  LogCapture* outer_;
};

// Installs the libbpf print callback (idempotent).
void InstallPrintCallback();

// "EPERM (operation not permitted)": errno by name and meaning.
std::string ErrnoText(int err);
// "EPERM", or "E<n>" when unknown.
std::string ErrnoName(int err);

// [{ level: 'warn'|'info'|'debug', text }]
Napi::Array LogToJs(Napi::Env env, const std::vector<LogLine>& lines);

// A JS Error carrying errno (positive), errnoName, errnoText and the captured
// log. `message` is the operation and cause, e.g. "attach p: ENOENT (...)".
Napi::Error MakeError(Napi::Env env, const std::string& message, int err,
                      const LogCapture* log);

// A JS Error carrying `state` (e.g. "closed", "not-loaded"), which the TS layer maps to its code.
Napi::Error StateError(Napi::Env env, const char* state, const std::string& message);

}  // namespace ebpf
