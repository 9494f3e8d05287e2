// CPU time of one thread of this process, from the kernel's scheduler statistics
// (/proc/self/task/<tid>/schedstat, Documentation/scheduler/sched-stats.rst): nanoseconds it ran
// on a CPU, and nanoseconds it was runnable but waited for one. Needs CONFIG_SCHED_INFO, which
// every Debian kernel has.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/common/scoped_fd.h"

namespace vmmd {

struct ThreadCpuTime {
  uint64_t run_ns = 0;   // on a CPU
  uint64_t wait_ns = 0;  // runnable, waiting on a run queue

  ThreadCpuTime& operator+=(const ThreadCpuTime& o) {
    run_ns += o.run_ns;
    wait_ns += o.wait_ns;
    return *this;
  }
};

// The calling thread's.
absl::StatusOr<ThreadCpuTime> ReadOwnThreadCpuTime();
// Thread `tid` of this process; NOT_FOUND once it has exited.
absl::StatusOr<ThreadCpuTime> ReadThreadCpuTime(int64_t tid);
// A thread's schedstat, kept open: reading it again costs one pread, without the path lookup
// that makes ReadThreadCpuTime several times dearer (measured in docs/benchmarks.md). The
// thread opens it for itself; any thread may read it, also after the thread ended (then
// NOT_FOUND). Share it with std::shared_ptr so that the file stays open while someone reads.
class ThreadCpuClock {
 public:
  static absl::StatusOr<std::shared_ptr<const ThreadCpuClock>> OpenForCallingThread();
  absl::StatusOr<ThreadCpuTime> Read() const;

 private:
  explicit ThreadCpuClock(ScopedFd fd) : fd_(std::move(fd)) {}
  ScopedFd fd_;
};

// "<run_ns> <wait_ns> <timeslices>\n" (INVALID_ARGUMENT for anything else).
absl::StatusOr<ThreadCpuTime> ParseSchedstat(std::string_view text);

}  // namespace vmmd
