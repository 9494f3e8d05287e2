#include "vmmd/autoscaler/recommender.h"

#include <algorithm>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd::autoscaler {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

Sample At(double seconds, uint32_t online, double busy_s, double delay_s = 0) {
  Sample s;
  s.time = kT0 + absl::Seconds(seconds);
  s.online = online;
  s.busy_ns = static_cast<uint64_t>(busy_s * 1e9);
  s.delay_ns = static_cast<uint64_t>(delay_s * 1e9);
  return s;
}

// A VM whose `online` vCPUs are `busy` vCPUs busy (and `steal` waiting) over 5 s.
Load LoadOf(uint32_t online, double busy, double steal = 0) {
  return Measure(At(0, online, 100, 10), At(5, online, 100 + busy * 5, 10 + steal * 5 * online));
}

Policy Default(uint32_t min, uint32_t max) {
  Policy p;
  p.min_vcpus = min;
  p.max_vcpus = max;
  return p;
}

TEST(MeasureTest, BusyUtilisationAndSteal) {
  Load l = Measure(At(0, 4, 10, 1), At(2, 4, 13, 1.8));
  ASSERT_TRUE(l.valid);
  EXPECT_DOUBLE_EQ(l.busy, 1.5);
  EXPECT_DOUBLE_EQ(l.utilization, 0.375);
  EXPECT_DOUBLE_EQ(l.steal, 0.1);
}

TEST(MeasureTest, SkipsIntervalsThatCannotBeUsed) {
  EXPECT_EQ(Measure(At(0, 2, 1), At(0, 2, 2)).skip_reason, "no time passed");
  EXPECT_EQ(Measure(At(0, 2, 1), At(5, 3, 2)).skip_reason, "the vCPUs changed during the interval");
  Sample moved = At(5, 2, 2);
  moved.last_transition = kT0 + absl::Seconds(1);
  EXPECT_EQ(Measure(At(0, 2, 1), moved).skip_reason, "the vCPUs changed during the interval");
  moved.last_transition = kT0;  // before (or at) the first sample: fine
  EXPECT_TRUE(Measure(At(0, 2, 1), moved).valid);
  EXPECT_EQ(Measure(At(0, 2, 5), At(5, 2, 1)).skip_reason, "the counters restarted");
  EXPECT_EQ(Measure(At(0, 0, 1), At(5, 0, 1)).skip_reason, "no vCPU online");
  // A reading a hair over the interval is clamped to what the vCPUs can do.
  EXPECT_DOUBLE_EQ(Measure(At(0, 1, 0), At(1, 1, 1.01)).utilization, 1.0);
}

TEST(RecommenderTest, ScaleUpIsImmediateByTheHpaFormula) {
  Recommender r(0.2);
  Policy p = Default(1, 8);
  p.target_utilization = 0.6;
  Decision d = r.Decide(p, 1, LoadOf(1, 1.0), kT0);
  EXPECT_EQ(d.raw, 2u);  // ceil(1.0 / 0.6)
  EXPECT_EQ(d.recommended, 2u);
  EXPECT_EQ(d.direction, Direction::kUp);
  EXPECT_EQ(d.reason, "busy 1.00 vCPUs / target 0.60 = 2");
  // Three busy vCPUs out of 4: ceil(3 / 0.6) = 5.
  d = r.Decide(p, 4, LoadOf(4, 3.0), kT0 + absl::Seconds(60));
  EXPECT_EQ(d.recommended, 5u);
  // Exactly on target: no change and no rounding surprise.
  d = r.Decide(p, 2, LoadOf(2, 1.2), kT0 + absl::Seconds(120));
  EXPECT_EQ(d.recommended, 2u);
  EXPECT_EQ(d.direction, Direction::kNone);
}

TEST(RecommenderTest, ToleranceKeepsTheCurrentCount) {
  Recommender r(0.2);
  Policy p = Default(1, 8);
  p.target_utilization = 0.5;
  // 4 vCPUs at 0.54: ratio 1.08, within 10%.
  Decision d = r.Decide(p, 4, LoadOf(4, 2.16), kT0);
  EXPECT_EQ(d.recommended, 4u);
  EXPECT_EQ(d.direction, Direction::kNone);
  EXPECT_THAT(d.reason, HasSubstr("within 0.50 +- 10%"));
  // 0.56: ratio 1.12, out: ceil(2.24 / 0.5) = 5.
  d = r.Decide(p, 4, LoadOf(4, 2.24), kT0 + absl::Seconds(5));
  EXPECT_EQ(d.recommended, 5u);
}

TEST(RecommenderTest, BoundsClampAndPullBackAtOnce) {
  Recommender r(0.2);
  Policy p = Default(2, 3);
  p.target_utilization = 0.5;
  Decision d = r.Decide(p, 2, LoadOf(2, 2.0), kT0);
  EXPECT_EQ(d.raw, 3u);
  EXPECT_THAT(d.reason, HasSubstr("bounded to 2..3"));
  EXPECT_EQ(d.recommended, 3u);
  // Idle: never below min.
  d = r.Decide(p, 2, LoadOf(2, 0.0), kT0 + absl::Seconds(5));
  EXPECT_EQ(d.recommended, 2u);
  // The policy's max dropped below the current count: down to it now, no window or step.
  Recommender fresh(0.2);
  Policy small = Default(1, 2);
  d = fresh.Decide(small, 4, LoadOf(4, 3.9), kT0);
  EXPECT_EQ(d.recommended, 2u);
  EXPECT_EQ(d.direction, Direction::kDown);
}

TEST(RecommenderTest, ScaleDownUsesTheHighestRecommendationOfTheWindow) {
  Recommender r(0.2);
  Policy p = Default(1, 8);
  p.scale_down_stabilization = absl::Seconds(60);
  p.scale_down_max_step = 8;
  p.target_utilization = 0.5;
  // Busy for a while on 4 vCPUs (raw 4), then idle.
  EXPECT_EQ(r.Decide(p, 4, LoadOf(4, 2.0), kT0).recommended, 4u);
  for (int s = 5; s < 60; s += 5) {
    Decision d = r.Decide(p, 4, LoadOf(4, 0.1), kT0 + absl::Seconds(s));
    EXPECT_EQ(d.raw, 1u);
    EXPECT_EQ(d.recommended, 4u) << "at " << s << " s the busy sample is still in the window";
    EXPECT_THAT(d.reason, HasSubstr("scale-down window holds 4"));
  }
  Decision d = r.Decide(p, 4, LoadOf(4, 0.1), kT0 + absl::Seconds(61));
  EXPECT_EQ(d.recommended, 1u);
  EXPECT_EQ(d.direction, Direction::kDown);
}

TEST(RecommenderTest, ScaleUpWindowUsesTheLowest) {
  Recommender r(0.2);
  Policy p = Default(1, 8);
  p.scale_up_stabilization = absl::Seconds(10);
  p.target_utilization = 0.5;
  EXPECT_EQ(r.Decide(p, 1, LoadOf(1, 0.5), kT0).recommended, 1u);  // on target
  // A burst: raw 2, but the window's lowest is 1 until the calm sample ages out.
  EXPECT_EQ(r.Decide(p, 1, LoadOf(1, 1.0), kT0 + absl::Seconds(5)).recommended, 1u);
  EXPECT_EQ(r.Decide(p, 1, LoadOf(1, 1.0), kT0 + absl::Seconds(10)).recommended, 1u);
  EXPECT_EQ(r.Decide(p, 1, LoadOf(1, 1.0), kT0 + absl::Seconds(11)).recommended, 2u);
}

TEST(RecommenderTest, StepLimitsCountWhatThePeriodAlreadyDid) {
  Recommender r(0.2);
  Policy p = Default(1, 16);
  p.scale_up_max_step = 2;
  p.scale_down_max_step = 1;
  p.scale_down_stabilization = absl::ZeroDuration();
  p.step_period = absl::Seconds(15);
  p.target_utilization = 0.5;
  Decision d = r.Decide(p, 2, LoadOf(2, 2.0), kT0);  // raw 4
  EXPECT_EQ(d.recommended, 4u);
  r.RecordScale(kT0, 2, 4);
  d = r.Decide(p, 4, LoadOf(4, 4.0), kT0 + absl::Seconds(5));  // raw 8, but +2 already used
  EXPECT_EQ(d.recommended, 4u);
  EXPECT_THAT(d.reason, HasSubstr("step limit +2 per 15s"));
  d = r.Decide(p, 4, LoadOf(4, 4.0), kT0 + absl::Seconds(15));  // the period passed
  EXPECT_EQ(d.recommended, 6u);
  r.RecordScale(kT0 + absl::Seconds(15), 4, 6);
  // Down: one per period.
  d = r.Decide(p, 6, LoadOf(6, 0.0), kT0 + absl::Seconds(30));
  EXPECT_EQ(d.recommended, 5u);
  r.RecordScale(kT0 + absl::Seconds(30), 6, 5);
  d = r.Decide(p, 5, LoadOf(5, 0.0), kT0 + absl::Seconds(35));
  EXPECT_EQ(d.recommended, 5u);
  d = r.Decide(p, 5, LoadOf(5, 0.0), kT0 + absl::Seconds(45));
  EXPECT_EQ(d.recommended, 4u);
}

TEST(RecommenderTest, ContentionBlocksScaleUpButNotScaleDown) {
  Recommender r(0.2);
  Policy p = Default(1, 8);
  p.scale_down_stabilization = absl::ZeroDuration();
  p.target_utilization = 0.5;
  Decision d = r.Decide(p, 2, LoadOf(2, 1.6, 0.3), kT0);
  EXPECT_EQ(d.raw, 2u);
  EXPECT_EQ(d.recommended, 2u);
  EXPECT_EQ(d.reason, "host contended: steal 0.30 > 0.20, more vCPUs would not help");
  d = r.Decide(p, 2, LoadOf(2, 1.6, 0.1), kT0 + absl::Seconds(5));
  EXPECT_EQ(d.recommended, 4u);
  d = r.Decide(p, 4, LoadOf(4, 0.2, 0.5), kT0 + absl::Seconds(10));
  EXPECT_EQ(d.recommended, 3u);  // one step down despite the steal
}

TEST(RecommenderTest, NoisyLoadAroundTheTargetDoesNotFlap) {
  Recommender r(0.2);
  Policy p = Default(1, 8);
  p.target_utilization = 0.6;
  p.scale_down_stabilization = absl::Seconds(60);
  // Demand swinging 1.5 .. 2.1 busy vCPUs every 5 s for 10 minutes, starting on 3 vCPUs: the
  // peaks ask for 4 (ceil(2.1 / 0.6)), the troughs for 3, and the scale-down window keeps the
  // peak: one scale up, then nothing.
  uint32_t current = 3;
  int changes = 0;
  for (int i = 0; i < 120; ++i) {
    const double demand = (i % 4 == 0) ? 2.1 : (i % 4 == 2) ? 1.5 : 1.8;
    Decision d = r.Decide(p, current, LoadOf(current, std::min<double>(demand, current)),
                          kT0 + absl::Seconds(5 * i));
    if (d.recommended != current) {
      r.RecordScale(kT0 + absl::Seconds(5 * i), current, d.recommended);
      current = d.recommended;
      ++changes;
    }
  }
  EXPECT_EQ(changes, 1);
  EXPECT_EQ(current, 4u);
}

TEST(RecommenderTest, ResetForgetsTheWindows) {
  Recommender r(0.2);
  Policy p = Default(1, 8);
  p.target_utilization = 0.5;
  EXPECT_EQ(r.Decide(p, 4, LoadOf(4, 2.0), kT0).recommended, 4u);
  r.Reset();
  p.scale_down_max_step = 8;
  EXPECT_EQ(r.Decide(p, 4, LoadOf(4, 0.1), kT0 + absl::Seconds(5)).recommended, 1u);
}

TEST(RecommenderTest, BurstThenIdleGoesBackToMinOneStepPerPeriod) {
  // The end-to-end policy: 1..4, target 0.6, 20 s down window, -1 per 5 s; samples every 2 s.
  Recommender r(0.6);
  Policy p = Default(1, 4);
  p.target_utilization = 0.6;
  p.scale_down_stabilization = absl::Seconds(20);
  p.step_period = absl::Seconds(5);
  uint32_t current = 3;
  double t = 0;
  for (; t < 60; t += 2) {
    Decision d = r.Decide(p, current, LoadOf(current, 1.9), kT0 + absl::Seconds(t));
    EXPECT_EQ(d.recommended, 3u) << t;
  }
  std::vector<double> downs;
  for (; t < 120 && current > 1; t += 2) {
    Decision d = r.Decide(p, current, LoadOf(current, 0.1), kT0 + absl::Seconds(t));
    if (d.recommended != current) {
      EXPECT_EQ(d.recommended, current - 1);
      r.RecordScale(kT0 + absl::Seconds(t), current, d.recommended);
      current = d.recommended;
      downs.push_back(t);
    }
  }
  EXPECT_EQ(current, 1u);
  EXPECT_THAT(downs, ::testing::ElementsAre(80, 86));
}

}  // namespace
}  // namespace vmmd::autoscaler
