#include "core/common/thread_cpu_time.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/common/errno_status.h"
#include "core/common/scoped_fd.h"

namespace vmmd {
namespace {

absl::StatusOr<ThreadCpuTime> ReadSchedstatFile(const std::string& path) {
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("open ", path));
  char buf[128];
  ssize_t n;
  do {
    n = read(fd.get(), buf, sizeof(buf) - 1);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus(errno, absl::StrCat("read ", path));
  return ParseSchedstat(std::string_view(buf, static_cast<size_t>(n)));
}

}  // namespace

absl::StatusOr<ThreadCpuTime> ParseSchedstat(std::string_view text) {
  const std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(text.data(), text.size()), ' ', absl::SkipEmpty());
  ThreadCpuTime t;
  uint64_t slices = 0;
  if (fields.size() != 3 || !absl::SimpleAtoi(fields[0], &t.run_ns) ||
      !absl::SimpleAtoi(fields[1], &t.wait_ns) || !absl::SimpleAtoi(fields[2], &slices)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not a schedstat line: \"", absl::string_view(text.data(), text.size()), "\""));
  }
  return t;
}

absl::StatusOr<ThreadCpuTime> ReadOwnThreadCpuTime() {
  return ReadSchedstatFile("/proc/thread-self/schedstat");
}

absl::StatusOr<ThreadCpuTime> ReadThreadCpuTime(int64_t tid) {
  return ReadSchedstatFile(absl::StrCat("/proc/self/task/", tid, "/schedstat"));
}

}  // namespace vmmd
