#include "core/common/log.h"

#include <unistd.h>

#include <atomic>
#include <ctime>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "core/common/log_level.h"

namespace vmmd {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
// The capture, if any: read without a lock to skip the mutex when there is none, then used
// under g_capture_mu, which its destructor takes too (so no line reaches a capture being
// destroyed).
std::atomic<ScopedLogCapture*> g_capture{nullptr};
absl::Mutex g_capture_mu(absl::kConstInit);

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "D";
    case LogLevel::kInfo:
      return "I";
    case LogLevel::kWarning:
      return "W";
    case LogLevel::kError:
      return "E";
  }
  return "?";
}

}  // namespace

void SetMinLogLevel(LogLevel level) { g_min_level.store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_min_level.load(); }

void EmitLog(LogLevel level, std::string_view message) {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  std::string line = absl::StrFormat("%ld.%06ld %s %s\n", static_cast<long>(ts.tv_sec),
                                     ts.tv_nsec / 1000, LevelName(level), message);
  if (g_capture.load() != nullptr) {
    absl::MutexLock lock(&g_capture_mu);
    if (ScopedLogCapture* capture = g_capture.load(); capture != nullptr) {
      capture->Record(absl::StrFormat("%s %s", LevelName(level), message));
    }
  }
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

ScopedLogCapture::ScopedLogCapture() {
  absl::MutexLock lock(&g_capture_mu);
  g_capture.store(this);
}

ScopedLogCapture::~ScopedLogCapture() {
  absl::MutexLock lock(&g_capture_mu);
  g_capture.store(nullptr);
}

std::vector<std::string> ScopedLogCapture::lines() const {
  absl::MutexLock lock(&mu_);
  return lines_;
}

void ScopedLogCapture::Record(std::string line) {
  absl::MutexLock lock(&mu_);
  lines_.push_back(std::move(line));
}

bool ParseLogLevel(std::string_view text, LogLevel* level) {
  static constexpr std::pair<std::string_view, LogLevel> kLevels[] = {
      {"debug", LogLevel::kDebug},
      {"info", LogLevel::kInfo},
      {"warning", LogLevel::kWarning},
      {"error", LogLevel::kError},
  };
  for (const auto& [name, value] : kLevels) {
    if (text == name) {
      *level = value;
      return true;
    }
  }
  return false;
}

}  // namespace vmmd
