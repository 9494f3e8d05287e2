// vmm-autoscaler's control loop against the real daemon and gRPC service over the fake
// hypervisor. The fake guest is idle and never onlines a hot-added vCPU, so: an idle VM is
// recommended its minimum; a policy minimum above the online count makes AUTO scale up, the wait
// for ONLINE misses its deadline, and the loop backs off and says so in the VM's status.
#include <fstream>
#include <string>

#include "core/common/thread.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"
#include "tests/integration/daemon_fixture.h"
#include "tests/support/scrape.h"
#include "vmmd/autoscaler/autoscaler_metrics.h"
#include "vmmd/autoscaler/controller.h"

namespace vmmd::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class AutoscalerTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    firmware_ = tmp_.path() + "/QEMU_EFI.fd";
    std::ofstream(firmware_, std::ios::binary) << std::string(4096, '\xAA');
  }

  void CreateAndStart(const std::string& name, const v1::AutoscalePolicy& policy) {
    v1::CreateVmRequest create;
    // One boot vCPU: the fake guest never powers on secondary CPUs.
    *create.mutable_spec() = Spec(name, 1, 4);
    create.mutable_spec()->set_firmware_path(firmware_);
    *create.mutable_autoscale() = policy;
    v1::Vm vm;
    grpc::ClientContext c1;
    ASSERT_TRUE(stub_->CreateVm(&c1, create, &vm).ok());
    v1::StartVmRequest start;
    start.set_name(name);
    grpc::ClientContext c2;
    ASSERT_TRUE(stub_->StartVm(&c2, start, &vm).ok());
    ASSERT_TRUE(WaitForVcpuThread(name, 0));
  }

  std::unique_ptr<autoscaler::Controller> NewController(
      bool dry_run = false, absl::Duration startup_delay = absl::ZeroDuration()) {
    autoscaler::ControllerOptions options;
    options.startup_delay = startup_delay;
    options.interval = absl::Milliseconds(100);
    options.scale_timeout = absl::Seconds(1);
    options.dry_run = dry_run;
    options.reporter = "vmm-autoscaler/test";
    return std::make_unique<autoscaler::Controller>(
        grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials()), options,
        &metrics_);
  }

  // Two ticks an interval apart: a baseline and a decision.
  void TwoTicks(autoscaler::Controller& c) {
    c.Tick();
    absl::SleepFor(absl::Milliseconds(120));
    c.Tick();
  }

  v1::Vm Get(const std::string& name) {
    v1::GetVmRequest get;
    get.set_name(name);
    v1::Vm vm;
    grpc::ClientContext c;
    EXPECT_TRUE(stub_->GetVm(&c, get, &vm).ok());
    return vm;
  }

  std::map<std::string, double> Metrics() {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, metrics_.registry()->Collect());
    return Samples(out.str());
  }

  std::string firmware_;
  autoscaler::AutoscalerMetrics metrics_;
};

v1::AutoscalePolicy Policy(v1::AutoscaleMode mode, uint32_t min = 0) {
  v1::AutoscalePolicy p;
  p.set_mode(mode);
  p.set_min_vcpus(min);
  return p;
}

TEST_F(AutoscalerTest, RecommendPublishesTheMinimumForAnIdleGuestAndChangesNothing) {
  CreateAndStart("idle", Policy(v1::AUTOSCALE_MODE_RECOMMEND));
  auto c = NewController();
  TwoTicks(*c);
  const v1::Vm vm = Get("idle");
  ASSERT_TRUE(vm.has_autoscale_status());
  EXPECT_EQ(vm.autoscale_status().recommended_vcpus(), 1u);  // min = boot
  EXPECT_EQ(vm.autoscale_status().reporter(), "vmm-autoscaler/test");
  EXPECT_LT(vm.autoscale_status().utilization(), 0.5);
  EXPECT_FALSE(vm.autoscale_status().has_last_scale_time());
  EXPECT_EQ(vm.target_vcpus(), 1u);
  auto m = Metrics();
  EXPECT_EQ(m["vmm_autoscaler_samples_total{result=\"used\"}"], 1);
  EXPECT_EQ(m["vmm_autoscaler_recommended_vcpus{vm=\"idle\"}"], 1);
}

TEST_F(AutoscalerTest, AutoScalesUpToTheMinimumThenBacksOffWhenTheGuestMissesTheDeadline) {
  CreateAndStart("vm1", Policy(v1::AUTOSCALE_MODE_AUTO, 2));
  auto c = NewController();
  TwoTicks(*c);  // decides 2 and starts ScaleVCPUs(2, wait ONLINE, 1 s)
  absl::SleepFor(absl::Milliseconds(1500));
  c->Tick();  // reaps the failed scale
  v1::Vm vm = Get("vm1");
  EXPECT_EQ(vm.target_vcpus(), 2u);  // requested; the fake guest never onlines it
  EXPECT_EQ(vm.online_vcpus(), 1u);
  auto m = Metrics();
  EXPECT_EQ(m["vmm_autoscaler_decisions_total{direction=\"up\",result=\"error\",vm=\"vm1\"}"], 1);
  // The next decision reports the failure and the back-off instead of scaling again.
  absl::SleepFor(absl::Milliseconds(120));
  c->Tick();
  vm = Get("vm1");
  ASSERT_TRUE(vm.has_autoscale_status());
  EXPECT_EQ(vm.autoscale_status().last_scale_from(), 1u);
  EXPECT_EQ(vm.autoscale_status().last_scale_to(), 2u);
  EXPECT_THAT(vm.autoscale_status().last_scale_result(), StartsWith("DEADLINE_EXCEEDED: "));
  EXPECT_THAT(vm.autoscale_status().reason(),
              HasSubstr("backing off 200ms after DEADLINE_EXCEEDED"));
  m = Metrics();
  EXPECT_EQ(m["vmm_autoscaler_decisions_total{direction=\"up\",result=\"error\",vm=\"vm1\"}"], 1);
}

TEST_F(AutoscalerTest, AScaleWithoutAThreadIsAFailedDecisionNotACrash) {
  CreateAndStart("vm1", Policy(v1::AUTOSCALE_MODE_AUTO, 2));
  auto c = NewController();
  {
    ScopedThreadStartFailures no_threads(1);  // the ScaleVCPUs call's thread
    TwoTicks(*c);
    EXPECT_EQ(no_threads.remaining(), 0);
  }
  c->Tick();                                 // reaps the failed scale
  EXPECT_EQ(Get("vm1").target_vcpus(), 1u);  // nothing reached vmmd
  auto m = Metrics();
  EXPECT_EQ(m["vmm_autoscaler_decisions_total{direction=\"up\",result=\"error\",vm=\"vm1\"}"], 1);
  absl::SleepFor(absl::Milliseconds(120));
  c->Tick();
  const v1::Vm vm = Get("vm1");
  ASSERT_TRUE(vm.has_autoscale_status());
  EXPECT_THAT(vm.autoscale_status().last_scale_result(),
              HasSubstr("cannot create a thread: ScaleVCPUs of vm1: Resource temporarily "
                        "unavailable"));
}

TEST_F(AutoscalerTest, NoDecisionWhileTheVmIsStartingUp) {
  CreateAndStart("vm1", Policy(v1::AUTOSCALE_MODE_AUTO, 2));
  auto c = NewController(false, absl::Minutes(10));
  TwoTicks(*c);
  const v1::Vm vm = Get("vm1");
  EXPECT_EQ(vm.target_vcpus(), 1u);
  EXPECT_FALSE(vm.has_autoscale_status());
  auto m = Metrics();
  EXPECT_EQ(m["vmm_autoscaler_samples_total{result=\"skipped\"}"], 1);
  EXPECT_EQ(m["vmm_autoscaler_samples_total{result=\"used\"}"], 0);
}

TEST_F(AutoscalerTest, DryRunOnlyRecommends) {
  CreateAndStart("vm1", Policy(v1::AUTOSCALE_MODE_AUTO, 2));
  auto c = NewController(/*dry_run=*/true);
  TwoTicks(*c);
  const v1::Vm vm = Get("vm1");
  EXPECT_EQ(vm.target_vcpus(), 1u);
  EXPECT_EQ(vm.autoscale_status().recommended_vcpus(), 2u);
  auto m = Metrics();
  EXPECT_EQ(m["vmm_autoscaler_decisions_total{direction=\"up\",result=\"recommended\",vm=\"vm1\"}"],
            1);
}

TEST_F(AutoscalerTest, PolicyOffForgetsTheVm) {
  CreateAndStart("vm1", Policy(v1::AUTOSCALE_MODE_RECOMMEND));
  auto c = NewController();
  TwoTicks(*c);
  EXPECT_TRUE(Metrics().contains("vmm_autoscaler_recommended_vcpus{vm=\"vm1\"}"));
  v1::SetAutoscalePolicyRequest set;
  set.set_name("vm1");
  set.mutable_policy()->set_mode(v1::AUTOSCALE_MODE_OFF);
  v1::Vm vm;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->SetAutoscalePolicy(&ctx, set, &vm).ok());
  c->Tick();
  EXPECT_FALSE(Metrics().contains("vmm_autoscaler_recommended_vcpus{vm=\"vm1\"}"));
}

TEST_F(AutoscalerTest, RunStopsOnStopAndSurvivesADaemonThatIsGone) {
  auto c = NewController();
  std::thread loop([&] { c->Run(); });
  absl::SleepFor(absl::Milliseconds(300));
  daemon_.reset();  // vmmd goes away: the loop logs, counts and keeps going
  absl::SleepFor(absl::Milliseconds(300));
  c->Stop();
  loop.join();
  EXPECT_GE(Metrics()["vmm_autoscaler_api_errors_total{method=\"ListVms\"}"], 1);
}

}  // namespace
}  // namespace vmmd::testing
