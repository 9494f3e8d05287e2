// Minimal leveled logging to stderr (Abseil 20220623 has no absl/log). One line per call,
// "<monotonic seconds> <level> <message>", written with a single write(2) so lines from
// concurrent threads do not interleave.
#pragma once

#include <string_view>

#include "absl/strings/str_format.h"

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
template <typename... Args>
void LogDebug(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(LogLevel::kDebug, format, args...);
}

}  // namespace vmmd
