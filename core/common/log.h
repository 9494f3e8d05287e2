// Minimal leveled logging to stderr (Abseil 20220623 has no absl/log). One line per call,
// "<monotonic seconds> <level> <message>", written with a single write(2) so lines from
// concurrent threads do not interleave.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"

namespace vmmd {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetMinLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void EmitLog(LogLevel level, std::string_view message);

template <typename... Args>
void Log(LogLevel level, const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (LogEnabled(level)) EmitLog(level, absl::StrFormat(format, args...));
}

template <typename... Args>
void LogInfo(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(LogLevel::kInfo, format, args...);
}
template <typename... Args>
void LogWarning(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(LogLevel::kWarning, format, args...);
}
template <typename... Args>
void LogError(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(LogLevel::kError, format, args...);
}
// The rate limit of a warning a guest can repeat at will (an unmapped MMIO access, a refused
// hotplug register write, a refused CPU_ON): its first kLogBurst occurrences are logged, then
// every kLogEvery-th, each line carrying the count so far. 200 000 occurrences give 203 lines.
inline constexpr uint64_t kLogBurst = 8;
inline constexpr uint64_t kLogEvery = 1024;
// Whether occurrence `n` (1-based) of a repeated event is logged.
constexpr bool ShouldLogOccurrence(uint64_t n) {
  return n != 0 && (n <= kLogBurst || n % kLogEvery == 0);
}

// Counts one kind of repeated event (thread-safe, lock-free).
class LogRateLimiter {
 public:
  // Counts one occurrence; its number (1-based) when it is to be logged, 0 otherwise.
  uint64_t Count() {
    const uint64_t n = count_.fetch_add(1, std::memory_order_relaxed) + 1;
    return ShouldLogOccurrence(n) ? n : 0;
  }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> count_{0};
};

// Test hook: while one lives, every emitted line (without the time stamp: "<level> <message>")
// is also recorded here. Not nestable.
class ScopedLogCapture {
 public:
  ScopedLogCapture();
  ~ScopedLogCapture();
  ScopedLogCapture(const ScopedLogCapture&) = delete;
  ScopedLogCapture& operator=(const ScopedLogCapture&) = delete;

  std::vector<std::string> lines() const;
  void Record(std::string line);

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

template <typename... Args>
void LogDebug(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(LogLevel::kDebug, format, args...);
}

}  // namespace vmmd
