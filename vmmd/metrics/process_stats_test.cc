#include "vmmd/metrics/process_stats.h"

#include <unistd.h>

#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::metrics {
namespace {

using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

// proc(5): utime 14, stime 15, num_threads 20, starttime 22, vsize 23, rss 24 (1-based). The
// command name may hold spaces and parentheses.
constexpr char kStat[] =
    "4242 (vm d) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 17 0 123400 "
    "8589934592 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
constexpr char kProcStat[] = "cpu  1 2 3 4\nintr 5\nbtime 1700000000\nprocesses 9\n";

TEST(ProcessStatsTest, ParsesTheFieldsItUses) {
  absl::StatusOr<ProcessStats> p = ParseProcStat(kStat, kProcStat, 100, 4096);
  ASSERT_THAT(p, IsOk());
  EXPECT_DOUBLE_EQ(p->cpu_seconds, 3.0);  // (250 + 50) / 100
  EXPECT_EQ(p->threads, 17u);
  EXPECT_DOUBLE_EQ(p->start_time_seconds, 1700000000 + 1234.0);
  EXPECT_EQ(p->virtual_bytes, 8589934592u);
  EXPECT_EQ(p->resident_bytes, 2048u * 4096);
}

TEST(ProcessStatsTest, RefusesWhatIsNotThere) {
  EXPECT_THAT(ParseProcStat("garbage", kProcStat, 100, 4096),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseProcStat("1 (x) S 1 2 3\n", kProcStat, 100, 4096),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseProcStat(kStat, "cpu 1 2\n", 100, 4096),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseProcStat(kStat, kProcStat, 0, 4096),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ProcessStatsTest, ReadsThisProcess) {
  absl::StatusOr<ProcessStats> p = ReadProcessStats();
  ASSERT_THAT(p, IsOk());
  EXPECT_GT(p->resident_bytes, 0u);
  EXPECT_GE(p->threads, 1u);
  EXPECT_GE(p->open_fds, 3u);  // stdin, stdout, stderr at least
  EXPECT_GE(p->max_fds, p->open_fds);
  EXPECT_GT(p->start_time_seconds, 1.6e9);
}

}  // namespace
}  // namespace vmmd::metrics
