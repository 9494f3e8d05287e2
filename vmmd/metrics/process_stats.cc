#include "vmmd/metrics/process_stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/common/errno_status.h"
#include "core/common/scoped_fd.h"

namespace vmmd::metrics {
namespace {

absl::StatusOr<std::string> ReadSmallFile(const char* path) {
  ScopedFd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("open ", path));
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("read ", path));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1 << 20)) break;  // /proc/stat grows with CPUs; a MiB is plenty
  }
  return out;
}

uint64_t CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  uint64_t n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n > 0 ? n - 1 : 0;  // not the directory's own fd
}

}  // namespace

absl::StatusOr<ProcessStats> ParseProcStat(std::string_view stat, std::string_view proc_stat,
                                           int64_t ticks_per_second, int64_t page_size) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields resume after the
  // last ')'. Field numbers below are proc(5)'s (1-based): utime 14, stime 15, num_threads 20,
  // starttime 22, vsize 23, rss 24.
  const absl::string_view s(stat.data(), stat.size());
  const size_t close = s.rfind(')');
  if (close == absl::string_view::npos || ticks_per_second <= 0 || page_size <= 0) {
    return absl::InvalidArgumentError("not a /proc/<pid>/stat line");
  }
  const std::vector<absl::string_view> f =
      absl::StrSplit(s.substr(close + 1), ' ', absl::SkipEmpty());
  // f[0] is field 3 (state).
  auto field = [&](int n, uint64_t* out) {
    const size_t i = static_cast<size_t>(n - 3);
    return i < f.size() && absl::SimpleAtoi(f[i], out);
  };
  uint64_t utime = 0, stime = 0, threads = 0, starttime = 0, vsize = 0, rss = 0;
  if (!field(14, &utime) || !field(15, &stime) || !field(20, &threads) || !field(22, &starttime) ||
      !field(23, &vsize) || !field(24, &rss)) {
    return absl::InvalidArgumentError("a /proc/<pid>/stat field is missing or not a number");
  }
  uint64_t btime = 0;
  bool found = false;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(proc_stat.data(), proc_stat.size()), '\n')) {
    if (absl::ConsumePrefix(&line, "btime ") && absl::SimpleAtoi(line, &btime)) {
      found = true;
      break;
    }
  }
  if (!found) return absl::InvalidArgumentError("/proc/stat has no btime line");
  ProcessStats p;
  const double tps = static_cast<double>(ticks_per_second);
  p.cpu_seconds = static_cast<double>(utime + stime) / tps;
  p.threads = threads;
  p.start_time_seconds = static_cast<double>(btime) + static_cast<double>(starttime) / tps;
  p.virtual_bytes = vsize;
  p.resident_bytes = rss * static_cast<uint64_t>(page_size);
  return p;
}

absl::StatusOr<ProcessStats> ReadProcessStats() {
  absl::StatusOr<std::string> stat = ReadSmallFile("/proc/self/stat");
  if (!stat.ok()) return stat.status();
  absl::StatusOr<std::string> proc_stat = ReadSmallFile("/proc/stat");
  if (!proc_stat.ok()) return proc_stat.status();
  absl::StatusOr<ProcessStats> p =
      ParseProcStat(*stat, *proc_stat, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE));
  if (!p.ok()) return p.status();
  p->open_fds = CountOpenFds();
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) p->max_fds = lim.rlim_cur;
  return p;
}

}  // namespace vmmd::metrics
