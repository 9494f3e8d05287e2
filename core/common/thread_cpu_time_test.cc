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

// The kept-open clock reads what the path does, keeps counting, and reports the thread's end.
TEST(ThreadCpuTimeTest, AClockOpenedByAThreadIsReadByAnother) {
  absl::Notification opened, computed, finish;
  std::shared_ptr<const ThreadCpuClock> clock;
  int64_t tid = 0;
  std::thread t([&] {
    tid = syscall(SYS_gettid);
    absl::StatusOr<std::shared_ptr<const ThreadCpuClock>> c =
        ThreadCpuClock::OpenForCallingThread();
    if (c.ok()) clock = *c;
    opened.Notify();
    volatile uint64_t x = 0;
    for (uint64_t i = 0; i < 20'000'000; ++i) x = x + i;
    computed.Notify();
    finish.WaitForNotification();
  });
  opened.WaitForNotification();
  ASSERT_NE(clock, nullptr);
  absl::StatusOr<ThreadCpuTime> first = clock->Read();
  ASSERT_THAT(first, IsOk());
  computed.WaitForNotification();
  absl::StatusOr<ThreadCpuTime> second = clock->Read();
  ASSERT_THAT(second, IsOk());
  EXPECT_GT(second->run_ns, first->run_ns);
  absl::StatusOr<ThreadCpuTime> by_path = ReadThreadCpuTime(tid);
  ASSERT_THAT(by_path, IsOk());
  EXPECT_GE(by_path->run_ns, second->run_ns);  // the same counter
  finish.Notify();
  t.join();
  EXPECT_THAT(clock->Read(), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace vmmd
