// CPU time of one thread of this process, from the kernel's scheduler statistics
// (/proc/self/task/<tid>/schedstat, Documentation/scheduler/sched-stats.rst): nanoseconds it ran
// on a CPU, and nanoseconds it was runnable but waited for one. Needs CONFIG_SCHED_INFO, which
// every Debian kernel has.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

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
// "<run_ns> <wait_ns> <timeslices>\n" (INVALID_ARGUMENT for anything else).
absl::StatusOr<ThreadCpuTime> ParseSchedstat(std::string_view text);

}  // namespace vmmd
