#include "vmmd/vmm/autoscale_policy.h"

#include <limits>

#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::vmm {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

VmSpec Spec() {
  VmSpec s;
  s.name = "vm-1";
  s.firmware_path = "/guest/QEMU_EFI.fd";
  s.boot_vcpus = 2;
  s.max_vcpus = 8;
  return s;
}

TEST(AutoscalePolicyTest, UnsetFieldsTakeTheDefaults) {
  absl::StatusOr<AutoscalePolicy> p = ResolveAutoscalePolicy({}, Spec());
  ASSERT_THAT(p.status(), IsOk());
  EXPECT_EQ(p->mode, AutoscaleMode::kOff);
  EXPECT_EQ(p->min_vcpus, 2u);
  EXPECT_EQ(p->max_vcpus, 8u);
  EXPECT_EQ(p->target_utilization, 0.7);
  EXPECT_EQ(p->tolerance, 0.1);
  EXPECT_EQ(p->scale_up_stabilization, absl::ZeroDuration());
  EXPECT_EQ(p->scale_down_stabilization, absl::Seconds(300));
  EXPECT_EQ(p->scale_up_max_step, 4u);
  EXPECT_EQ(p->scale_down_max_step, 1u);
  EXPECT_EQ(p->step_period, absl::Seconds(15));
  // Resolving twice changes nothing.
  EXPECT_EQ(*ResolveAutoscalePolicy(*p, Spec()), *p);
}

TEST(AutoscalePolicyTest, KeepsWhatIsSet) {
  AutoscalePolicy in;
  in.mode = AutoscaleMode::kAuto;
  in.min_vcpus = 3;
  in.max_vcpus = 6;
  in.target_utilization = 0.5;
  in.tolerance = 0.2;
  in.scale_up_stabilization = absl::Seconds(10);
  in.scale_down_stabilization = absl::Seconds(20);
  in.scale_up_max_step = 2;
  in.scale_down_max_step = 3;
  in.step_period = absl::Seconds(5);
  EXPECT_EQ(*ResolveAutoscalePolicy(in, Spec()), in);
  // An explicit zero is a value, not "unset".
  in.tolerance = 0;
  in.scale_down_stabilization = absl::ZeroDuration();
  EXPECT_EQ(*ResolveAutoscalePolicy(in, Spec()), in);
}

TEST(AutoscalePolicyTest, RefusesEachBadFieldByName) {
  struct Case {
    void (*edit)(AutoscalePolicy&);
    const char* what;
  } cases[] = {
      {[](AutoscalePolicy& p) { p.min_vcpus = 1; },
       "policy.min_vcpus (1) must be at least boot_vcpus (2)"},
      {[](AutoscalePolicy& p) { p.max_vcpus = 9; },
       "policy.max_vcpus (9) must be at most the VM's max_vcpus (8)"},
      {[](AutoscalePolicy& p) { p.min_vcpus = 5, p.max_vcpus = 4; },
       "policy.min_vcpus (5) must not exceed policy.max_vcpus (4)"},
      {[](AutoscalePolicy& p) { p.target_utilization = 0.01; }, "policy.target_utilization"},
      {[](AutoscalePolicy& p) { p.target_utilization = 1.5; }, "policy.target_utilization"},
      {[](AutoscalePolicy& p) { p.target_utilization = std::numeric_limits<double>::quiet_NaN(); },
       "policy.target_utilization"},
      {[](AutoscalePolicy& p) { p.tolerance = 1; }, "policy.tolerance"},
      {[](AutoscalePolicy& p) { p.tolerance = -0.1; }, "policy.tolerance"},
      {[](AutoscalePolicy& p) { p.scale_up_stabilization = absl::Hours(2); },
       "policy.scale_up_stabilization"},
      {[](AutoscalePolicy& p) { p.scale_down_stabilization = -absl::Seconds(1); },
       "policy.scale_down_stabilization"},
      {[](AutoscalePolicy& p) { p.scale_up_max_step = 513; }, "policy.scale_up_max_step"},
      {[](AutoscalePolicy& p) { p.scale_down_max_step = 1000; }, "policy.scale_down_max_step"},
      {[](AutoscalePolicy& p) { p.step_period = absl::Milliseconds(500); }, "policy.step_period"},
      {[](AutoscalePolicy& p) { p.step_period = absl::Hours(2); }, "policy.step_period"},
  };
  for (const Case& c : cases) {
    AutoscalePolicy p;
    p.mode = AutoscaleMode::kAuto;
    c.edit(p);
    EXPECT_THAT(ResolveAutoscalePolicy(p, Spec(), "policy").status(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.what)));
  }
}

TEST(AutoscalePolicyTest, AutoNeedsFirmwareRecommendDoesNot) {
  VmSpec direct = Spec();
  direct.firmware_path.clear();
  AutoscalePolicy p;
  p.mode = AutoscaleMode::kAuto;
  EXPECT_THAT(ResolveAutoscalePolicy(p, direct).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("RECOMMEND works")));
  p.mode = AutoscaleMode::kRecommend;
  EXPECT_THAT(ResolveAutoscalePolicy(p, direct).status(), IsOk());
}

TEST(AutoscaleStatusTest, Validation) {
  AutoscalePolicy policy = *ResolveAutoscalePolicy({}, Spec());
  AutoscaleStatus s;
  s.recommended_vcpus = 4;
  EXPECT_THAT(ValidateAutoscaleStatus(s, policy, Spec()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("mode OFF")));
  policy.mode = AutoscaleMode::kRecommend;
  EXPECT_THAT(ValidateAutoscaleStatus(s, policy, Spec()), IsOk());
  s.recommended_vcpus = 0;  // none yet
  EXPECT_THAT(ValidateAutoscaleStatus(s, policy, Spec()), IsOk());
  s.recommended_vcpus = 1;  // below min (= boot 2)
  EXPECT_THAT(ValidateAutoscaleStatus(s, policy, Spec()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("recommended_vcpus")));
  s.recommended_vcpus = 9;
  EXPECT_THAT(ValidateAutoscaleStatus(s, policy, Spec()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("recommended_vcpus")));
  s.recommended_vcpus = 2;
  s.utilization = 1.01;
  EXPECT_THAT(ValidateAutoscaleStatus(s, policy, Spec()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("utilization")));
  s.utilization = 0.5;
  s.steal = std::numeric_limits<double>::infinity();
  EXPECT_THAT(ValidateAutoscaleStatus(s, policy, Spec()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("steal")));
  s.steal = 0;
  s.reason = std::string(257, 'x');
  EXPECT_THAT(ValidateAutoscaleStatus(s, policy, Spec()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("status.reason")));
  s.reason = "line\nbreak";
  EXPECT_THAT(ValidateAutoscaleStatus(s, policy, Spec()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("status.reason")));
  s.reason = "ok";
  s.reporter = std::string(129, 'r');
  EXPECT_THAT(ValidateAutoscaleStatus(s, policy, Spec()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("status.reporter")));
  s.reporter = "vmm-autoscaler";
  s.last_scale_to = 9;
  EXPECT_THAT(ValidateAutoscaleStatus(s, policy, Spec()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("last_scale_to")));
  s.last_scale_to = 8;
  EXPECT_THAT(ValidateAutoscaleStatus(s, policy, Spec()), IsOk());
}

}  // namespace
}  // namespace vmmd::vmm
