#include "core/common/thread.h"

#include <cerrno>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd {
namespace {

using ::testing::StrEq;
using ::vmmd::testing::StatusIs;

TEST(StartThreadTest, RunsTheBody) {
  absl::Notification ran;
  absl::StatusOr<std::thread> t = StartThread("test", [&ran] { ran.Notify(); });
  ASSERT_TRUE(t.ok()) << t.status();
  t->join();
  EXPECT_TRUE(ran.HasBeenNotified());
}

TEST(StartThreadTest, AHostOutOfThreadsIsResourceExhaustedNotAnException) {
  ScopedThreadStartFailures fail(2);
  bool ran = false;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::thread> t = StartThread("vCPU 3 of vm a", [&ran] { ran = true; });
    EXPECT_THAT(t.status(), StatusIs(absl::StatusCode::kResourceExhausted));
    EXPECT_THAT(std::string(t.status().message()),
                StrEq("cannot create a thread: vCPU 3 of vm a: Resource temporarily unavailable"));
  }
  EXPECT_EQ(fail.remaining(), 0);
  absl::StatusOr<std::thread> third = StartThread("x", [&ran] { ran = true; });
  ASSERT_TRUE(third.ok()) << third.status();
  third->join();
  EXPECT_TRUE(ran);
}

TEST(StartThreadTest, FailuresCanBeInjectedAfterSomeSuccesses) {
  ScopedThreadStartFailures fail(1, EAGAIN, /*skip=*/1);
  absl::StatusOr<std::thread> first = StartThread("first", [] {});
  ASSERT_TRUE(first.ok()) << first.status();
  first->join();
  EXPECT_THAT(StartThread("second", [] {}).status(),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(fail.remaining(), 0);
}

TEST(StartThreadTest, AnotherRefusalIsInternal) {
  ScopedThreadStartFailures fail(1, EPERM);
  absl::StatusOr<std::thread> t = StartThread("x", [] {});
  EXPECT_THAT(t.status(), StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(std::string(t.status().message()),
              StrEq("cannot create a thread: x: Operation not permitted"));
}

}  // namespace
}  // namespace vmmd
