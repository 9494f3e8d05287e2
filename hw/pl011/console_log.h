// A VM's console log: the ByteSink its UART writes the guest's output into, kept in a directory
// vmmd owns (<state_dir>/<vm>/), bounded on disk across every re-open and rotation.
//
// - <dir> is opened O_PATH|O_DIRECTORY|O_NOFOLLOW, and the log relative to it as kFileName with
//   O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK|O_NOCTTY, mode 0600; it must be a
//   regular file (a symlink, FIFO or anything else there is refused, never followed or
//   blocked on).
// - The bytes already in kFileName count: when the file would grow past `limit`, it is renamed
//   to kRotatedName (replacing the previous one) and a fresh kFileName is started. So at most
//   2 x limit bytes are on disk per directory however often the log is re-opened (every VM
//   start and guest reset), and the newest output is always kept. A file found at or over the
//   limit when opened is rotated at once.
// - Guest bytes are buffered and written with write(2) when a newline arrives, when the buffer
//   holds kFlushThreshold bytes, before a rotation, on Flush() and on destruction. So a vCPU
//   thread makes at most one write(2) per line (plus a rename and an open per rotation), never
//   waits on anything else, and holds only this object's lock.
// - Write and rotation errors are counted (and logged once), never fatal: buffered bytes are
//   dropped; after a failed rotation everything is dropped (the bound holds).
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "core/common/scoped_fd.h"
#include "hw/pl011/byte_sink.h"

namespace vmmd::hw {

class ConsoleLog final : public ByteSink {
 public:
  static constexpr uint64_t kDefaultLimit = uint64_t{16} << 20;  // 16 MiB per file
  static constexpr size_t kFlushThreshold = 4096;
  static constexpr char kFileName[] = "console.log";
  static constexpr char kRotatedName[] = "console.log.1";

  struct Stats {
    uint64_t bytes_written = 0;  // guest bytes that reached the file
    uint64_t bytes_dropped = 0;  // guest bytes lost to write or rotation errors
    uint64_t write_errors = 0;   // failed write(2), rename or open calls
    uint64_t rotations = 0;
  };

  // Opens (creates) <dir>/console.log for appending as described above. `dir` must exist.
  // Errors: the errno of the open (errno_status.h), e.g. NOT_FOUND for a missing directory;
  // FAILED_PRECONDITION when dir or the log is a symbolic link or the log not a regular file;
  // INVALID_ARGUMENT for a zero limit.
  static absl::StatusOr<std::unique_ptr<ConsoleLog>> Open(const std::string& dir,
                                                          uint64_t limit = kDefaultLimit);
  ~ConsoleLog() override;  // flushes
  ConsoleLog(const ConsoleLog&) = delete;
  ConsoleLog& operator=(const ConsoleLog&) = delete;

  void Write(absl::Span<const uint8_t> bytes) override;
  // Writes out whatever is buffered.
  void Flush();
  Stats GetStats() const;

 private:
  ConsoleLog(std::string dir_name, ScopedFd dir, ScopedFd fd, uint64_t size, uint64_t limit);
  void FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Flushes, renames the log to kRotatedName and opens a fresh one; on failure `broken_`.
  void RotateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CountErrorLocked(const absl::Status& error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_name_;  // for messages
  const ScopedFd dir_;
  const uint64_t limit_;
  mutable absl::Mutex mu_;
  ScopedFd fd_ ABSL_GUARDED_BY(mu_);
  std::vector<uint8_t> buffer_ ABSL_GUARDED_BY(mu_);
  uint64_t size_ ABSL_GUARDED_BY(mu_) = 0;  // bytes in the current file, buffered ones included
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmmd::hw
