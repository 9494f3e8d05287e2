#include "core/common/thread_cpu_time.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/common/errno_status.h"
#include "core/common/scoped_fd.h"

namespace vmmd {
namespace {

// The schedstat line from the start of an open schedstat file (a dead thread's: ESRCH).
absl::StatusOr<ThreadCpuTime> ReadSchedstatFd(int fd, absl::string_view what) {
  char buf[128];
  ssize_t n;
  do {
    n = pread(fd, buf, sizeof(buf) - 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus(errno, absl::StrCat("read ", what));
  return ParseSchedstat(std::string_view(buf, static_cast<size_t>(n)));
}

absl::StatusOr<ThreadCpuTime> ReadSchedstatFile(const std::string& path) {
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("open ", path));
  return ReadSchedstatFd(fd.get(), path);
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

absl::StatusOr<std::shared_ptr<const ThreadCpuClock>> ThreadCpuClock::OpenForCallingThread() {
  ScopedFd fd(open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, "open /proc/thread-self/schedstat");
  return std::shared_ptr<const ThreadCpuClock>(new ThreadCpuClock(std::move(fd)));
}

absl::StatusOr<ThreadCpuTime> ThreadCpuClock::Read() const {
  absl::StatusOr<ThreadCpuTime> t = ReadSchedstatFd(fd_.get(), "a thread's schedstat");
  if (!t.ok() && t.status().code() != absl::StatusCode::kInvalidArgument) {
    // The thread is gone (ESRCH), whatever errno says exactly.
    return absl::NotFoundError(absl::StrCat("the thread has ended (", t.status().message(), ")"));
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
