#include "core/common/event_loop.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd {
namespace {

using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

bool WaitFor(const std::atomic<int>& v, int want) {
  for (int i = 0; i < 5000 && v.load() != want; ++i) absl::SleepFor(absl::Milliseconds(1));
  return v.load() == want;
}

TEST(EventFdTest, SignalsAddUpAndDrainTakesThem) {
  absl::StatusOr<EventFd> e = EventFd::Create();
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ(e->Drain(), 0u);
  e->Signal();
  e->Signal();
  EXPECT_EQ(e->Drain(), 2u);
  EXPECT_EQ(e->Drain(), 0u);
}

TEST(EventLoopTest, RunsTheHandlerOfEachSignalledFdOnItsThread) {
  auto loop = EventLoop::Create();
  ASSERT_THAT(loop, IsOk());
  absl::StatusOr<EventFd> a = EventFd::Create();
  absl::StatusOr<EventFd> b = EventFd::Create();
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  std::atomic<int> got_a{0}, got_b{0};
  std::atomic<bool> other_thread{false};
  const std::thread::id me = std::this_thread::get_id();
  ASSERT_THAT((*loop)->Watch(a->fd(), [&] { got_a += static_cast<int>(a->Drain()); }), IsOk());
  ASSERT_THAT((*loop)->Watch(b->fd(),
                             [&] {
                               got_b += static_cast<int>(b->Drain());
                               other_thread = std::this_thread::get_id() != me;
                             }),
              IsOk());
  EXPECT_EQ((*loop)->watched(), 2u);
  ASSERT_THAT((*loop)->Start("loop-test", ThreadRole::kNone), IsOk());
  a->Signal();
  a->Signal();
  b->Signal();
  EXPECT_TRUE(WaitFor(got_a, 2));
  EXPECT_TRUE(WaitFor(got_b, 1));
  EXPECT_TRUE(other_thread.load());
  // Fixed once it runs.
  EXPECT_THAT((*loop)->Watch(a->fd(), [] {}), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT((*loop)->Start("again", ThreadRole::kNone),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  (*loop)->Stop();
  (*loop)->Stop();  // idempotent
  a->Signal();
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(got_a.load(), 2);  // stopped: nothing runs any more
}

TEST(EventLoopTest, AnEdgeWatchFiresOncePerArrivalNotWhileDataIsLeftUnread) {
  auto loop = EventLoop::Create();
  ASSERT_THAT(loop, IsOk());
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  ScopedFd reader(sv[0]), writer(sv[1]);
  std::atomic<int> calls{0};
  // Reads nothing: a level watch would run it without end.
  ASSERT_THAT((*loop)->Watch(
                  reader.get(), [&] { ++calls; }, EventLoop::Trigger::kEdge),
              IsOk());
  ASSERT_THAT((*loop)->Start("edge-test", ThreadRole::kNone), IsOk());
  ASSERT_EQ(write(writer.get(), "a", 1), 1);
  EXPECT_TRUE(WaitFor(calls, 1));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(calls.load(), 1);
  ASSERT_EQ(write(writer.get(), "b", 1), 1);
  EXPECT_TRUE(WaitFor(calls, 2));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(calls.load(), 2);
  (*loop)->Stop();
}

TEST(EventLoopTest, StopWaitsForTheRunningHandler) {
  auto loop = EventLoop::Create();
  ASSERT_THAT(loop, IsOk());
  absl::StatusOr<EventFd> a = EventFd::Create();
  ASSERT_THAT(a, IsOk());
  std::atomic<int> started{0}, finished{0};
  ASSERT_THAT((*loop)->Watch(a->fd(),
                             [&] {
                               a->Drain();
                               started = 1;
                               absl::SleepFor(absl::Milliseconds(100));
                               finished = 1;
                             }),
              IsOk());
  ASSERT_THAT((*loop)->Start("loop-test", ThreadRole::kNone), IsOk());
  a->Signal();
  ASSERT_TRUE(WaitFor(started, 1));
  (*loop)->Stop();
  EXPECT_EQ(finished.load(), 1);
}

TEST(EventLoopTest, ADestroyedLoopThatNeverStartedIsFine) {
  auto loop = EventLoop::Create();
  ASSERT_THAT(loop, IsOk());
}

}  // namespace
}  // namespace vmmd
