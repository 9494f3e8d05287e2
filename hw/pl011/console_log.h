// A bounded console log file: the ByteSink a VM's UART writes its guest's output into.
//
// - Opened with O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC, mode 0640 (before umask).
// - At most `limit` guest bytes are written by one ConsoleLog (the limit is per instance; an
//   existing file's contents are not counted, so rotating across VM restarts is the owner's job).
//   When the first byte over the limit arrives, one line kLimitMarker is written (preceded by
//   "\n" if the guest's last accepted byte was not a newline) and everything after is dropped.
// - Guest bytes are buffered and written with write(2) when a newline arrives, when the buffer
//   holds kFlushThreshold bytes, on Flush() and on destruction. So a vCPU thread makes at most
//   one write(2) per line, never waits on anything else, and holds only this object's lock.
// - Write errors are counted (and logged once), never fatal: the buffered bytes are dropped and
//   later output is still attempted.
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
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
  static constexpr uint64_t kDefaultLimit = uint64_t{16} << 20;  // 16 MiB
  static constexpr size_t kFlushThreshold = 4096;
  static constexpr std::string_view kLimitMarker =
      "[vmmd: console log limit reached, further output dropped]\n";

  struct Stats {
    uint64_t bytes_written = 0;  // guest bytes that reached the file
    uint64_t bytes_dropped = 0;  // guest bytes over the limit or lost to write errors
    uint64_t write_errors = 0;   // failed write(2) calls
  };

  // Opens (creates) `path` for appending. The open's errno becomes the status (see
  // errno_status.h), e.g. NOT_FOUND for a missing directory, PERMISSION_DENIED.
  static absl::StatusOr<std::unique_ptr<ConsoleLog>> Open(const std::string& path,
                                                          uint64_t limit = kDefaultLimit);
  ~ConsoleLog() override;  // flushes
  ConsoleLog(const ConsoleLog&) = delete;
  ConsoleLog& operator=(const ConsoleLog&) = delete;

  void Write(absl::Span<const uint8_t> bytes) override;
  // Writes out whatever is buffered.
  void Flush();
  Stats GetStats() const;

 private:
  ConsoleLog(ScopedFd fd, uint64_t limit);
  void FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t limit_;
  mutable absl::Mutex mu_;
  ScopedFd fd_ ABSL_GUARDED_BY(mu_);
  // Guest bytes first (buffered_guest_ of them), then possibly the marker line.
  std::vector<uint8_t> buffer_ ABSL_GUARDED_BY(mu_);
  size_t buffered_guest_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t accepted_ ABSL_GUARDED_BY(mu_) = 0;  // guest bytes taken under the limit
  bool limit_reached_ ABSL_GUARDED_BY(mu_) = false;
  bool at_line_start_ ABSL_GUARDED_BY(mu_) = true;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmmd::hw
