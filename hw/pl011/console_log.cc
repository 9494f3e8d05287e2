#include "hw/pl011/console_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/common/errno_status.h"
#include "core/common/log.h"

namespace vmmd::hw {

absl::StatusOr<std::unique_ptr<ConsoleLog>> ConsoleLog::Open(const std::string& path,
                                                             uint64_t limit) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open console log ", path));
  return std::unique_ptr<ConsoleLog>(new ConsoleLog(ScopedFd(fd), limit));
}

ConsoleLog::ConsoleLog(ScopedFd fd, uint64_t limit) : limit_(limit), fd_(std::move(fd)) {
  buffer_.reserve(kFlushThreshold + kLimitMarker.size() + 1);
}

ConsoleLog::~ConsoleLog() {
  absl::MutexLock lock(&mu_);
  FlushLocked();
}

void ConsoleLog::Write(absl::Span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  absl::MutexLock lock(&mu_);
  const uint64_t room = limit_ - accepted_;  // accepted_ <= limit_ always
  const size_t taken = room < bytes.size() ? static_cast<size_t>(room) : bytes.size();
  bool flush = false;
  if (taken > 0) {
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.begin() + taken);
    buffered_guest_ += taken;
    accepted_ += taken;
    at_line_start_ = bytes[taken - 1] == '\n';
    flush = std::memchr(bytes.data(), '\n', taken) != nullptr;
  }
  const size_t dropped = bytes.size() - taken;
  if (dropped > 0) {
    stats_.bytes_dropped += dropped;
    if (!limit_reached_) {
      limit_reached_ = true;
      if (!at_line_start_) buffer_.push_back('\n');
      buffer_.insert(buffer_.end(), kLimitMarker.begin(), kLimitMarker.end());
      flush = true;
    }
  }
  if (flush || buffer_.size() >= kFlushThreshold) FlushLocked();
}

void ConsoleLog::Flush() {
  absl::MutexLock lock(&mu_);
  FlushLocked();
}

void ConsoleLog::FlushLocked() {
  if (buffer_.empty()) return;
  size_t done = 0;
  int error = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_.get(), buffer_.data() + done, buffer_.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      error = n < 0 ? errno : EIO;  // a zero-length write makes no progress: give up
      break;
    }
  }
  const size_t guest_written = std::min(done, buffered_guest_);
  stats_.bytes_written += guest_written;
  stats_.bytes_dropped += buffered_guest_ - guest_written;
  if (error != 0) {
    ++stats_.write_errors;
    if (stats_.write_errors == 1) {
      LogWarning("%s (further errors only counted)",
                 ErrnoStatus(error, "console log write").message());
    }
  }
  buffer_.clear();
  buffered_guest_ = 0;
}

ConsoleLog::Stats ConsoleLog::GetStats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace vmmd::hw
