// What the benchmarks share: CPU clocks in milliseconds and the median of a sample.
#pragma once

#include <time.h>

#include <algorithm>
#include <vector>

namespace vmmd::bench {

// CPU time of `clock` (CLOCK_THREAD_CPUTIME_ID, CLOCK_PROCESS_CPUTIME_ID) in milliseconds.
inline double CpuMs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}
inline double ThreadCpuMs() { return CpuMs(CLOCK_THREAD_CPUTIME_ID); }
inline double ProcessCpuMs() { return CpuMs(CLOCK_PROCESS_CPUTIME_ID); }

// The upper median (0 for none).
inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace vmmd::bench
