// The autoscaling policy API over the real gRPC service: set at create time, replaced on a
// running VM, published to watchers, reported on by an autoscaler, each bad field refused with
// its precise code.
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/daemon_fixture.h"

namespace vmmd::testing {
namespace {

using ::testing::HasSubstr;

class AutoscaleApiTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    firmware_ = tmp_.path() + "/QEMU_EFI.fd";
    std::ofstream(firmware_, std::ios::binary) << std::string(4096, '\xAA');
  }

  grpc::Status Create(const std::string& name, bool firmware, const v1::AutoscalePolicy* policy,
                      v1::Vm* vm) {
    v1::CreateVmRequest create;
    *create.mutable_spec() = Spec(name, 2, 6);
    if (firmware) create.mutable_spec()->set_firmware_path(firmware_);
    if (policy != nullptr) *create.mutable_autoscale() = *policy;
    grpc::ClientContext c;
    return stub_->CreateVm(&c, create, vm);
  }

  grpc::Status Set(const std::string& name, const v1::AutoscalePolicy& policy, v1::Vm* vm) {
    v1::SetAutoscalePolicyRequest request;
    request.set_name(name);
    *request.mutable_policy() = policy;
    grpc::ClientContext c;
    return stub_->SetAutoscalePolicy(&c, request, vm);
  }

  grpc::Status Report(const std::string& name, const v1::AutoscaleStatus& status, v1::Vm* vm) {
    v1::ReportAutoscaleStatusRequest request;
    request.set_name(name);
    *request.mutable_status() = status;
    grpc::ClientContext c;
    return stub_->ReportAutoscaleStatus(&c, request, vm);
  }

  std::string firmware_;
};

TEST_F(AutoscaleApiTest, PolicyAtCreateWithDefaultsFilledIn) {
  v1::AutoscalePolicy policy;
  policy.set_mode(v1::AUTOSCALE_MODE_AUTO);
  policy.set_max_vcpus(4);
  policy.set_target_utilization(0.6);
  v1::Vm vm;
  ASSERT_TRUE(Create("vm1", true, &policy, &vm).ok());
  const v1::AutoscalePolicy& got = vm.autoscale();
  EXPECT_EQ(got.mode(), v1::AUTOSCALE_MODE_AUTO);
  EXPECT_EQ(got.min_vcpus(), 2u);  // boot_vcpus
  EXPECT_EQ(got.max_vcpus(), 4u);
  EXPECT_EQ(got.target_utilization(), 0.6);
  EXPECT_EQ(got.tolerance(), 0.1);
  EXPECT_EQ(got.scale_up_stabilization().seconds(), 0);
  EXPECT_EQ(got.scale_down_stabilization().seconds(), 300);
  EXPECT_EQ(got.scale_up_max_step(), 4u);
  EXPECT_EQ(got.scale_down_max_step(), 1u);
  EXPECT_EQ(got.step_period().seconds(), 15);
  EXPECT_FALSE(vm.has_autoscale_status());

  // Explicit zeros are kept, not replaced by the defaults.
  policy.set_tolerance(0);
  policy.mutable_scale_down_stabilization()->set_seconds(0);
  ASSERT_TRUE(Set("vm1", policy, &vm).ok());
  EXPECT_TRUE(vm.autoscale().has_tolerance());
  EXPECT_EQ(vm.autoscale().tolerance(), 0);
  EXPECT_TRUE(vm.autoscale().has_scale_down_stabilization());
  EXPECT_EQ(vm.autoscale().scale_down_stabilization().seconds(), 0);

  // Without a policy: OFF, with the defaults shown.
  v1::Vm plain;
  ASSERT_TRUE(Create("vm2", false, nullptr, &plain).ok());
  EXPECT_EQ(plain.autoscale().mode(), v1::AUTOSCALE_MODE_OFF);
  EXPECT_EQ(plain.autoscale().max_vcpus(), 6u);
}

TEST_F(AutoscaleApiTest, PreciseCodes) {
  v1::Vm vm;
  v1::AutoscalePolicy auto_policy;
  auto_policy.set_mode(v1::AUTOSCALE_MODE_AUTO);
  // AUTO on a direct-boot VM: it cannot hotplug; nothing is created.
  grpc::Status s = Create("direct", false, &auto_policy, &vm);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("RECOMMEND works"));
  grpc::ClientContext c;
  v1::GetVmRequest get;
  get.set_name("direct");
  EXPECT_EQ(stub_->GetVm(&c, get, &vm).error_code(), grpc::StatusCode::NOT_FOUND);

  v1::AutoscalePolicy bad = auto_policy;
  bad.set_min_vcpus(1);
  s = Create("vm1", true, &bad, &vm);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("autoscale.min_vcpus (1) must be at least boot_vcpus"));

  ASSERT_TRUE(Create("vm1", true, nullptr, &vm).ok());
  bad = auto_policy;
  bad.set_mode(static_cast<v1::AutoscaleMode>(42));
  s = Set("vm1", bad, &vm);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("policy.mode 42"));
  bad = auto_policy;
  bad.mutable_step_period()->set_seconds(-1);
  s = Set("vm1", bad, &vm);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("policy.step_period"));
  bad = auto_policy;
  bad.set_max_vcpus(7);
  s = Set("vm1", bad, &vm);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("policy.max_vcpus (7) must be at most"));
  EXPECT_EQ(Set("nope", auto_policy, &vm).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Set("", auto_policy, &vm).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::SetAutoscalePolicyRequest no_policy;
  no_policy.set_name("vm1");
  grpc::ClientContext c2;
  s = stub_->SetAutoscalePolicy(&c2, no_policy, &vm);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "policy is required");

  // A report while the policy is OFF.
  v1::AutoscaleStatus status;
  status.set_recommended_vcpus(3);
  s = Report("vm1", status, &vm);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("mode OFF"));
  // The refused calls changed nothing.
  grpc::ClientContext c3;
  get.set_name("vm1");
  ASSERT_TRUE(stub_->GetVm(&c3, get, &vm).ok());
  EXPECT_EQ(vm.autoscale().mode(), v1::AUTOSCALE_MODE_OFF);
}

TEST_F(AutoscaleApiTest, SetIsPublishedAndReportsAreShownUntilTheNextSet) {
  v1::Vm vm;
  ASSERT_TRUE(Create("vm1", true, nullptr, &vm).ok());
  v1::WatchEventsRequest watch;
  grpc::ClientContext wc;
  wc.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto reader = stub_->WatchEvents(&wc, watch);
  v1::Event e;
  ASSERT_TRUE(reader->Read(&e));
  ASSERT_TRUE(e.snapshot());

  v1::AutoscalePolicy policy;
  policy.set_mode(v1::AUTOSCALE_MODE_RECOMMEND);
  policy.set_min_vcpus(3);
  ASSERT_TRUE(Set("vm1", policy, &vm).ok());
  EXPECT_EQ(vm.autoscale().mode(), v1::AUTOSCALE_MODE_RECOMMEND);
  EXPECT_EQ(vm.autoscale().min_vcpus(), 3u);
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.vm(), "vm1");
  ASSERT_TRUE(e.has_autoscale_policy());
  EXPECT_EQ(e.autoscale_policy().mode(), v1::AUTOSCALE_MODE_RECOMMEND);
  EXPECT_EQ(e.autoscale_policy().min_vcpus(), 3u);
  EXPECT_EQ(e.autoscale_policy().max_vcpus(), 6u);

  v1::AutoscaleStatus status;
  status.set_recommended_vcpus(5);
  status.set_utilization(0.93);
  status.set_steal(0.02);
  status.set_reason("busy 1.86 vCPUs / target 0.7");
  status.set_reporter("vmm-autoscaler/test");
  status.mutable_last_scale_time()->set_seconds(1'700'000'000);
  status.set_last_scale_from(3);
  status.set_last_scale_to(4);
  status.set_last_scale_result("ok");
  status.mutable_report_time()->set_seconds(5);  // ignored: vmmd stamps it
  const int64_t before = absl::ToUnixSeconds(absl::Now());
  ASSERT_TRUE(Report("vm1", status, &vm).ok());
  ASSERT_TRUE(vm.has_autoscale_status());
  const v1::AutoscaleStatus& got = vm.autoscale_status();
  EXPECT_EQ(got.recommended_vcpus(), 5u);
  EXPECT_EQ(got.utilization(), 0.93);
  EXPECT_EQ(got.steal(), 0.02);
  EXPECT_EQ(got.reason(), "busy 1.86 vCPUs / target 0.7");
  EXPECT_EQ(got.reporter(), "vmm-autoscaler/test");
  EXPECT_EQ(got.last_scale_time().seconds(), 1'700'000'000);
  EXPECT_EQ(got.last_scale_from(), 3u);
  EXPECT_EQ(got.last_scale_to(), 4u);
  EXPECT_EQ(got.last_scale_result(), "ok");
  EXPECT_GE(got.report_time().seconds(), before);

  // Out of the policy's bounds: refused, the last good report stays.
  status.set_recommended_vcpus(2);
  grpc::Status s = Report("vm1", status, &vm);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("within the policy's 3..6"));
  status.set_recommended_vcpus(4);
  status.mutable_last_scale_time()->set_nanos(-1);
  EXPECT_EQ(Report("vm1", status, &vm).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::ListVmsResponse list;
  grpc::ClientContext lc;
  ASSERT_TRUE(stub_->ListVms(&lc, v1::ListVmsRequest(), &list).ok());
  ASSERT_EQ(list.vms_size(), 1);
  EXPECT_EQ(list.vms(0).autoscale_status().recommended_vcpus(), 5u);

  // A new policy forgets the report (it was computed under the old one).
  policy.set_min_vcpus(2);
  ASSERT_TRUE(Set("vm1", policy, &vm).ok());
  EXPECT_FALSE(vm.has_autoscale_status());
  wc.TryCancel();
}

}  // namespace
}  // namespace vmmd::testing
