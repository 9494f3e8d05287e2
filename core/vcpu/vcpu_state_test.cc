#include "core/vcpu/vcpu_state.h"

#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::core {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;
using S = VcpuState;
using E = VcpuEvent;

constexpr VcpuFacts kHot{.boot = false, .powered_on = false};
constexpr VcpuFacts kHotOn{.boot = false, .powered_on = true};
constexpr VcpuFacts kBootOff{.boot = true, .powered_on = false};
constexpr VcpuFacts kBootOn{.boot = true, .powered_on = true};

S Next(S s, E e, VcpuFacts f) {
  auto r = NextVcpuState(s, e, f);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : s;
}

TEST(VcpuStateTest, FullHotplugCycle) {
  S s = S::kParked;
  s = Next(s, E::kPlug, kHot);
  EXPECT_EQ(s, S::kEnabling);
  s = Next(s, E::kRegistered, kHot);
  EXPECT_EQ(s, S::kEnabled);
  s = Next(s, E::kCpuOn, kHot);
  EXPECT_EQ(s, S::kOnline);
  s = Next(s, E::kUnplug, kHotOn);
  EXPECT_EQ(s, S::kRemoving);
  s = Next(s, E::kCpuOff, kHotOn);
  EXPECT_EQ(s, S::kRemoving);
  s = Next(s, E::kEjected, kHot);
  EXPECT_EQ(s, S::kParked);
  // And it can come back.
  EXPECT_EQ(Next(s, E::kPlug, kHot), S::kEnabling);
}

TEST(VcpuStateTest, GuestCanToggleOnlineWhileEnabled) {
  EXPECT_EQ(Next(S::kOnline, E::kCpuOff, kHotOn), S::kOffline);
  EXPECT_EQ(Next(S::kOffline, E::kCpuOn, kHot), S::kOnline);
  EXPECT_EQ(Next(S::kEnabling, E::kCpuOn, kHot), S::kOnline);
}

TEST(VcpuStateTest, CpuOnRefusals) {
  EXPECT_THAT(NextVcpuState(S::kParked, E::kCpuOn, kHot),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not enabled")));
  EXPECT_THAT(NextVcpuState(S::kOnline, E::kCpuOn, kHotOn),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already on")));
  EXPECT_THAT(NextVcpuState(S::kRemoving, E::kCpuOn, kHot),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("being removed")));
  EXPECT_THAT(NextVcpuState(S::kRemoving, E::kCpuOn, kHotOn),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already on")));
}

TEST(VcpuStateTest, IdempotentAndCancellingApiEvents) {
  for (S s : {S::kEnabling, S::kEnabled, S::kOnline, S::kOffline}) {
    EXPECT_EQ(Next(s, E::kPlug, kHot), s) << VcpuStateName(s);
  }
  EXPECT_EQ(Next(S::kParked, E::kUnplug, kHot), S::kParked);
  EXPECT_EQ(Next(S::kEnabling, E::kUnplug, kHot), S::kParked);
  EXPECT_EQ(Next(S::kEnabling, E::kUnplug, VcpuFacts{.guest_took_insert = true}), S::kRemoving);
  EXPECT_EQ(Next(S::kRemoving, E::kUnplug, kHotOn), S::kRemoving);
  EXPECT_EQ(Next(S::kRemoving, E::kPlug, kHotOn), S::kOnline);
  EXPECT_EQ(Next(S::kRemoving, E::kPlug, kHot), S::kOffline);
}

TEST(VcpuStateTest, GuestCannotEjectWhatWasNotOffered) {
  for (S s : {S::kParked, S::kEnabling, S::kEnabled, S::kOnline, S::kOffline}) {
    EXPECT_THAT(NextVcpuState(s, E::kEjected, kHot),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no removal")))
        << VcpuStateName(s);
  }
  // Stray registration reports change nothing.
  for (S s : {S::kParked, S::kEnabled, S::kOnline, S::kOffline, S::kRemoving}) {
    EXPECT_EQ(Next(s, E::kRegistered, kHot), s) << VcpuStateName(s);
  }
}

TEST(VcpuStateTest, BootVcpusArePermanent) {
  EXPECT_EQ(Next(S::kOffline, E::kCpuOn, kBootOff), S::kOnline);
  EXPECT_EQ(Next(S::kOnline, E::kCpuOff, kBootOn), S::kOffline);
  EXPECT_EQ(Next(S::kOnline, E::kPlug, kBootOn), S::kOnline);
  EXPECT_THAT(NextVcpuState(S::kOnline, E::kUnplug, kBootOn),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("boot vCPUs are permanent")));
  EXPECT_THAT(NextVcpuState(S::kOffline, E::kEjected, kBootOff),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(NextVcpuState(S::kOnline, E::kCpuOn, kBootOn),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already on")));
}

TEST(VcpuStateTest, NamesAreStable) {
  EXPECT_EQ(VcpuStateName(S::kParked), "PARKED");
  EXPECT_EQ(VcpuStateName(S::kEnabling), "ENABLING");
  EXPECT_EQ(VcpuStateName(S::kEnabled), "ENABLED");
  EXPECT_EQ(VcpuStateName(S::kOnline), "ONLINE");
  EXPECT_EQ(VcpuStateName(S::kOffline), "OFFLINE");
  EXPECT_EQ(VcpuStateName(S::kRemoving), "REMOVING");
}

}  // namespace
}  // namespace vmmd::core
