#include "vmmd/vmm/vm_restart.h"

#include "gtest/gtest.h"

namespace vmmd::vmm {
namespace {

TEST(DecideRestartTest, BackOffDoublesCapsAndStopsPastTheCap) {
  const RestartPolicy policy;  // the defaults vmm.proto documents
  std::deque<absl::Time> resets;
  absl::Time now = absl::FromUnixSeconds(1000);
  const absl::Duration expected[] = {
      absl::ZeroDuration(), absl::Milliseconds(500), absl::Seconds(1),  absl::Seconds(2),
      absl::Seconds(4),     absl::Seconds(8),        absl::Seconds(16), absl::Seconds(30),
      absl::Seconds(30),    absl::Seconds(30)};
  for (int i = 0; i < 10; ++i) {
    const RestartDecision d = DecideRestart(policy, now, &resets);
    EXPECT_TRUE(d.restart) << i;
    EXPECT_EQ(d.resets, static_cast<uint32_t>(i + 1));
    EXPECT_EQ(d.delay, expected[i]) << i;
    now += d.delay + absl::Milliseconds(100);  // the guest resets as soon as it runs
  }
  EXPECT_EQ(DecideRestart(policy, absl::FromUnixSeconds(1001), &resets).reason,
            "guest reset 11 times within 5m; stopped");
}

TEST(DecideRestartTest, ReasonsAndTheWindowForgets) {
  const RestartPolicy policy;
  std::deque<absl::Time> resets;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_EQ(DecideRestart(policy, t0, &resets).reason, "guest reset");
  const RestartDecision second = DecideRestart(policy, t0 + absl::Seconds(10), &resets);
  EXPECT_EQ(second.reason, "guest reset 2 times within 5m; restarting in 500ms");
  // Five minutes after the first (and more after the second): a fresh start.
  const RestartDecision later = DecideRestart(policy, t0 + absl::Minutes(6), &resets);
  EXPECT_EQ(later.resets, 1u);
  EXPECT_EQ(later.delay, absl::ZeroDuration());
  const RestartDecision failed = DecideRestart(RestartPolicy{.max_resets = 1},
                                               t0 + absl::Minutes(6) + absl::Seconds(1), &resets);
  EXPECT_FALSE(failed.restart);
  EXPECT_EQ(failed.reason, "guest reset 2 times within 5m; stopped");
}

}  // namespace
}  // namespace vmmd::vmm
