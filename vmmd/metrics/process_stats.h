// The daemon process itself, as Prometheus' standard process_* metrics describe a process
// (prometheus-cpp has no collector for them): CPU seconds, memory, file descriptors, threads and
// start time, read from /proc at scrape time.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace vmmd::metrics {

struct ProcessStats {
  double cpu_seconds = 0;  // user + system
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;  // the soft RLIMIT_NOFILE
  uint64_t threads = 0;
  double start_time_seconds = 0;  // since the Unix epoch
};

// This process, now.
absl::StatusOr<ProcessStats> ReadProcessStats();

// The parts of /proc/<pid>/stat (`stat`) and /proc/stat (`btime` line) that the stats come from;
// `ticks_per_second` and `page_size` as sysconf reports them. INVALID_ARGUMENT for malformed
// input.
absl::StatusOr<ProcessStats> ParseProcStat(std::string_view stat, std::string_view proc_stat,
                                           int64_t ticks_per_second, int64_t page_size);

}  // namespace vmmd::metrics
