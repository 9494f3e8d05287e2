// vmmctl console: reading a VM's console log, which vmmd writes on its host to
// <state_dir>/<vm>/console.log and rotates to console.log.1 (hw/pl011/console_log.h).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "core/common/scoped_fd.h"

namespace vmmd::vmmctl {

// The log as it stands: console.log.1 (if any) then console.log, i.e. oldest first.
// NOT_FOUND when neither exists (the VM never started with a state directory);
// PERMISSION_DENIED saying that the log is for root only.
absl::StatusOr<std::string> ReadConsoleLog(const std::string& path);

// Reads a log that grows and may be rotated (renamed away and started anew) between polls, like
// `tail -F`: every byte appended to the file it follows is returned once, in order, across
// rotations; a file cut shorter is read again from its start.
class LogFollower {
 public:
  explicit LogFollower(std::string path) : path_(std::move(path)) {}
  // What was appended since the last poll (from the start on the first one). A missing file is
  // not an error (nothing yet); other open and read errors are.
  absl::StatusOr<std::string> Poll();

 private:
  absl::Status Drain(std::string* out);

  const std::string path_;
  ScopedFd fd_;
  uint64_t offset_ = 0;
};

}  // namespace vmmd::vmmctl
