#include "hw/pl011/console_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/common/errno_status.h"
#include "core/common/log.h"

namespace vmmd::hw {
namespace {

absl::Status OpenError(int err, const std::string& what) {
  if (err == ELOOP || err == ENOTDIR) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " is a symbolic link or not a directory; vmmd follows no link there"));
  }
  return ErrnoStatus(err, absl::StrCat("open ", what));
}

// The log file in `dir`, regular only; its size in *size.
absl::StatusOr<ScopedFd> OpenLogFile(int dir, const std::string& dir_name, uint64_t* size) {
  const std::string what = absl::StrCat(dir_name, "/", ConsoleLog::kFileName);
  ScopedFd fd(::openat(
      dir, ConsoleLog::kFileName,
      O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0600));
  if (!fd.valid()) {
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, " is a symbolic link; vmmd follows no link there"));
    }
    if (errno == ENXIO) {  // a FIFO without a reader
      return absl::FailedPreconditionError(absl::StrCat(what, " is not a regular file"));
    }
    return ErrnoStatus(errno, absl::StrCat("open ", what));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("fstat ", what));
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(what, " is not a regular file"));
  }
  *size = static_cast<uint64_t>(st.st_size);
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConsoleLog>> ConsoleLog::Open(const std::string& dir,
                                                             uint64_t limit) {
  if (limit == 0) return absl::InvalidArgumentError("console log limit must be above 0");
  ScopedFd dir_fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir_fd.valid()) return OpenError(errno, dir);
  uint64_t size = 0;
  absl::StatusOr<ScopedFd> fd = OpenLogFile(dir_fd.get(), dir, &size);
  if (!fd.ok()) return fd.status();
  auto log = std::unique_ptr<ConsoleLog>(
      new ConsoleLog(dir, std::move(dir_fd), std::move(*fd), size, limit));
  if (size >= limit) {
    absl::MutexLock lock(&log->mu_);
    log->RotateLocked();
  }
  return log;
}

ConsoleLog::ConsoleLog(std::string dir_name, ScopedFd dir, ScopedFd fd, uint64_t size,
                       uint64_t limit)
    : dir_name_(std::move(dir_name)), dir_(std::move(dir)), limit_(limit), fd_(std::move(fd)) {
  absl::MutexLock lock(&mu_);
  size_ = size;
  buffer_.reserve(kFlushThreshold);
}

ConsoleLog::~ConsoleLog() {
  absl::MutexLock lock(&mu_);
  FlushLocked();
}

void ConsoleLog::Write(absl::Span<const uint8_t> bytes) {
  absl::MutexLock lock(&mu_);
  while (!bytes.empty()) {
    if (broken_) {
      stats_.bytes_dropped += bytes.size();
      return;
    }
    if (size_ >= limit_) {
      RotateLocked();
      continue;
    }
    const uint64_t room = limit_ - size_;
    const size_t taken = room < bytes.size() ? static_cast<size_t>(room) : bytes.size();
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.begin() + taken);
    size_ += taken;
    const bool newline = std::memchr(bytes.data(), '\n', taken) != nullptr;
    bytes.remove_prefix(taken);
    if (newline || buffer_.size() >= kFlushThreshold) FlushLocked();
  }
}

void ConsoleLog::Flush() {
  absl::MutexLock lock(&mu_);
  FlushLocked();
}

void ConsoleLog::CountErrorLocked(const absl::Status& error) {
  ++stats_.write_errors;
  if (stats_.write_errors == 1) {
    LogWarning("console log %s: %s (further errors only counted)", dir_name_, error.message());
  }
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
  stats_.bytes_written += done;
  stats_.bytes_dropped += buffer_.size() - done;
  if (error != 0) CountErrorLocked(ErrnoStatus(error, "write"));
  buffer_.clear();
}

void ConsoleLog::RotateLocked() {
  FlushLocked();
  fd_.Reset();
  if (::renameat(dir_.get(), kFileName, dir_.get(), kRotatedName) != 0) {
    CountErrorLocked(ErrnoStatus(errno, absl::StrCat("rotate to ", kRotatedName)));
    broken_ = true;
    return;
  }
  uint64_t size = 0;
  absl::StatusOr<ScopedFd> fd = OpenLogFile(dir_.get(), dir_name_, &size);
  if (!fd.ok()) {
    CountErrorLocked(fd.status());
    broken_ = true;
    return;
  }
  fd_ = std::move(*fd);
  size_ = size;  // 0 unless something else created the file in between
  ++stats_.rotations;
  if (size_ >= limit_) broken_ = true;  // someone else is writing it: stop rather than loop
}

ConsoleLog::Stats ConsoleLog::GetStats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace vmmd::hw
