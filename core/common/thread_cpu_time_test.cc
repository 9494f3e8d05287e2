#include "core/common/thread_cpu_time.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd {
namespace {

using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

TEST(ThreadCpuTimeTest, ParsesSchedstat) {
  absl::StatusOr<ThreadCpuTime> t = ParseSchedstat("123456789 42 7\n");
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->run_ns, 123456789u);
  EXPECT_EQ(t->wait_ns, 42u);
  EXPECT_THAT(ParseSchedstat(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseSchedstat("1 2\n"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseSchedstat("1 x 3\n"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseSchedstat("-1 2 3\n"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ThreadCpuTimeTest, AThreadThatComputesAccumulatesRunTime) {
  absl::StatusOr<ThreadCpuTime> before = ReadOwnThreadCpuTime();
  ASSERT_THAT(before, IsOk());
  volatile uint64_t x = 0;
  for (uint64_t i = 0; i < 20'000'000; ++i) x = x + i;
  absl::StatusOr<ThreadCpuTime> after = ReadOwnThreadCpuTime();
  ASSERT_THAT(after, IsOk());
  EXPECT_GT(after->run_ns, before->run_ns);
  // The same numbers through the task's own file.
  absl::StatusOr<ThreadCpuTime> by_tid = ReadThreadCpuTime(syscall(SYS_gettid));
  ASSERT_THAT(by_tid, IsOk());
  EXPECT_GE(by_tid->run_ns, after->run_ns);
}

TEST(ThreadCpuTimeTest, AnotherThreadOfThisProcessAndOneThatExited) {
  absl::Notification started, finish;
  int64_t tid = 0;
  std::thread t([&] {
    tid = syscall(SYS_gettid);
    started.Notify();
    finish.WaitForNotification();
  });
  started.WaitForNotification();
  EXPECT_THAT(ReadThreadCpuTime(tid), IsOk());
  finish.Notify();
  t.join();
  EXPECT_THAT(ReadThreadCpuTime(tid), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace vmmd
