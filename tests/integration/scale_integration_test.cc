// ScaleVCPUs and WatchEvents end to end over the real gRPC service and vmmctl, on a
// firmware-booted VM whose guest is the fake hypervisor (it never acknowledges hot-adds, so
// waits for ENABLED/ONLINE run into their deadlines — exactly what a guest without hotplug
// support looks like).
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/daemon_fixture.h"

#ifndef VMMCTL_PATH
#error "VMMCTL_PATH (the built vmmctl) must be defined by CMake"
#endif

namespace vmmd::testing {
namespace {

using ::testing::HasSubstr;

class ScaleTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    firmware_ = tmp_.path() + "/QEMU_EFI.fd";
    std::ofstream(firmware_, std::ios::binary) << std::string(4096, '\xAA');
    v1::CreateVmRequest create;
    *create.mutable_spec() = Spec("vm1", 2, 4);
    create.mutable_spec()->set_firmware_path(firmware_);
    v1::Vm vm;
    grpc::ClientContext c1;
    ASSERT_TRUE(stub_->CreateVm(&c1, create, &vm).ok());
    v1::StartVmRequest start;
    start.set_name("vm1");
    grpc::ClientContext c2;
    ASSERT_TRUE(stub_->StartVm(&c2, start, &vm).ok());
  }

  grpc::Status Scale(uint32_t target, v1::ScaleWait wait, int64_t timeout_ms,
                     v1::ScaleVCPUsResponse* response, const std::string& name = "vm1") {
    v1::ScaleVCPUsRequest request;
    request.set_name(name);
    request.set_target_vcpus(target);
    request.set_wait(wait);
    if (timeout_ms != 0) {
      request.mutable_timeout()->set_seconds(timeout_ms / 1000);
      request.mutable_timeout()->set_nanos(static_cast<int32_t>((timeout_ms % 1000) * 1'000'000));
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->ScaleVCPUs(&context, request, response);
  }

  ProcessResult Vmmctl(std::vector<std::string> args) {
    args.insert(args.begin(), {VMMCTL_PATH, "--socket", socket_});
    return RunProcess(args, tmp_.path());
  }

  std::string firmware_;
};

TEST_F(ScaleTest, ScaleUpIsRequestedAndIdempotent) {
  v1::ScaleVCPUsResponse r;
  ASSERT_TRUE(Scale(4, v1::SCALE_WAIT_NONE, 0, &r).ok());
  EXPECT_EQ(r.name(), "vm1");
  EXPECT_EQ(r.previous_vcpus(), 2u);
  EXPECT_EQ(r.current_vcpus(), 4u);
  ASSERT_EQ(r.vcpus_size(), 4);
  EXPECT_EQ(r.vcpus(2).state(), v1::VCPU_STATE_ENABLING);
  EXPECT_TRUE(r.vcpus(2).acpi_enabled());
  EXPECT_EQ(r.vcpus(3).state(), v1::VCPU_STATE_ENABLING);
  v1::ScaleVCPUsResponse again;
  ASSERT_TRUE(Scale(4, v1::SCALE_WAIT_NONE, 0, &again).ok());
  EXPECT_EQ(again.previous_vcpus(), 4u);
  EXPECT_EQ(again.current_vcpus(), 4u);
  // Withdrawn before the guest looked: parked again.
  ASSERT_TRUE(Scale(2, v1::SCALE_WAIT_ONLINE, 1000, &r).ok());
  EXPECT_EQ(r.vcpus(3).state(), v1::VCPU_STATE_PARKED);
}

TEST_F(ScaleTest, PreciseCodes) {
  v1::ScaleVCPUsResponse r;
  grpc::Status s = Scale(1, v1::SCALE_WAIT_NONE, 0, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("below the VM's 2 boot vCPUs"));
  s = Scale(5, v1::SCALE_WAIT_NONE, 0, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("max_vcpus (4)"));
  s = Scale(3, v1::SCALE_WAIT_NONE, -5, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("timeout"));
  s = Scale(3, v1::SCALE_WAIT_NONE, 3'601'000, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  s = Scale(3, v1::SCALE_WAIT_NONE, 0, &r, "nope");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  s = Scale(3, v1::SCALE_WAIT_NONE, 0, &r, "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A direct-boot VM: FAILED_PRECONDITION naming the reason.
  ASSERT_TRUE(Create("direct", 1, 2).ok());
  v1::StartVmRequest start;
  start.set_name("direct");
  v1::Vm vm;
  grpc::ClientContext c;
  ASSERT_TRUE(stub_->StartVm(&c, start, &vm).ok());
  s = Scale(2, v1::SCALE_WAIT_NONE, 0, &r, "direct");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("create it with boot_mode ACPI_DIRECT (or UEFI)"));
}

TEST_F(ScaleTest, MissedDeadlineSaysWhatHappenedAndLeavesTheVmHealthy) {
  v1::ScaleVCPUsResponse r;
  grpc::Status s = Scale(3, v1::SCALE_WAIT_ONLINE, 300, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(s.error_message(), HasSubstr("vCPU 2 is ENABLING"));
  v1::GetVmRequest get;
  get.set_name("vm1");
  v1::Vm vm;
  grpc::ClientContext c;
  ASSERT_TRUE(stub_->GetVm(&c, get, &vm).ok());
  EXPECT_EQ(vm.state(), v1::VM_STATE_RUNNING);
  // The next request still works.
  ASSERT_TRUE(Scale(2, v1::SCALE_WAIT_ENABLED, 1000, &r).ok());
  EXPECT_EQ(r.previous_vcpus(), 3u);
  EXPECT_EQ(r.current_vcpus(), 2u);
}

TEST_F(ScaleTest, ANewRequestSupersedesAWaitingOne) {
  grpc::Status first;
  std::thread waiter([&] {
    v1::ScaleVCPUsResponse r;
    first = Scale(3, v1::SCALE_WAIT_ONLINE, 20'000, &r);
  });
  // Wait until the first request is in (vCPU 2 ENABLING), then supersede it.
  for (int i = 0; i < 500; ++i) {
    auto cpus = daemon_->vms().GetCpuState("vm1");
    if (cpus.ok() && (*cpus)[2].state == core::VcpuState::kEnabling) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  v1::ScaleVCPUsResponse r;
  ASSERT_TRUE(Scale(4, v1::SCALE_WAIT_NONE, 0, &r).ok());
  waiter.join();
  EXPECT_EQ(first.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(first.error_message(), HasSubstr("superseded"));
}

TEST_F(ScaleTest, WatchEventsStartsWithASnapshotThenStreamsTransitions) {
  v1::WatchEventsRequest request;
  request.set_name("vm1");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto reader = stub_->WatchEvents(&context, request);
  v1::Event e;
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_TRUE(e.snapshot());
  EXPECT_EQ(e.vm(), "vm1");
  EXPECT_EQ(e.vm_state().state(), v1::VM_STATE_RUNNING);
  v1::ScaleVCPUsResponse r;
  ASSERT_TRUE(Scale(3, v1::SCALE_WAIT_NONE, 0, &r).ok());
  ASSERT_TRUE(reader->Read(&e));
  ASSERT_TRUE(e.has_vcpu_state());
  EXPECT_EQ(e.vcpu_state().vcpu(), 2u);
  EXPECT_EQ(e.vcpu_state().from(), v1::VCPU_STATE_PARKED);
  EXPECT_EQ(e.vcpu_state().to(), v1::VCPU_STATE_ENABLING);
  EXPECT_EQ(e.vcpu_state().cause(), "api: scale up");
  EXPECT_FALSE(e.snapshot());
  const uint64_t seq = e.sequence();
  ASSERT_TRUE(Scale(2, v1::SCALE_WAIT_NONE, 0, &r).ok());
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_GT(e.sequence(), seq);
  EXPECT_EQ(e.vcpu_state().to(), v1::VCPU_STATE_PARKED);
  context.TryCancel();
  // Unknown VM: NOT_FOUND.
  request.set_name("nope");
  grpc::ClientContext c2;
  auto bad = stub_->WatchEvents(&c2, request);
  EXPECT_FALSE(bad->Read(&e));
  EXPECT_EQ(bad->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ScaleTest, VmmctlScalePrintsProgressAndTheResult) {
  ProcessResult r = Vmmctl({"scale", "vm1", "--vcpus", "3", "--wait", "none"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out,
              ::testing::MatchesRegex(
                  "[0-9T:.Z-]+ vm1 vCPU 2 PARKED -> ENABLING \\(api: scale up\\)\n"
                  "vm1: 2 -> 3 vCPUs\n"
                  "VCPU +MPIDR +STATE +BOOT +ACPI +PSCI +TID +EXITS +BUSY_S +DELAY_S\n(.|\n)*"));
  EXPECT_THAT(r.out, HasSubstr("ENABLING  no    yes   off"));
  r = Vmmctl({"scale", "vm1", "--vcpus", "4", "--timeout", "1"});  // default wait: online
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, ::testing::StartsWith("vmmctl: DEADLINE_EXCEEDED: "));
  EXPECT_THAT(r.err, HasSubstr("vCPU 3 is ENABLING"));
  r = Vmmctl({"scale", "vm1", "--vcpus", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, ::testing::StartsWith("vmmctl: INVALID_ARGUMENT: target_vcpus (1)"));
  r = Vmmctl({"scale", "vm1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("scale: --vcpus is required"));
  r = Vmmctl({"scale", "vm1", "--vcpus", "3", "--wait", "soon"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--wait must be online, enabled or none"));
  r = Vmmctl({"cpus", "vm1", "--wait", "none"});
  EXPECT_EQ(r.exit_code, 2);
  r = Vmmctl({"events", "vm1", "--timeout", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::MatchesRegex("[0-9T:.Z-]+ vm1 RUNNING \\(now\\)\n"));
}

TEST_F(ScaleTest, VmmctlAutoscaleSetsThePolicyAndGetShowsIt) {
  ProcessResult r = Vmmctl({"autoscale", "vm1", "--mode=auto", "--max=3",
                            "--target-utilization=0.5", "--scale-down-stabilization=30"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "vm1: autoscale auto 2..3 vCPUs, target 0.50, tolerance 0.10, up: window 0s +4/15s, "
            "down: window 30s -1/15s\n");
  r = Vmmctl({"get", "vm1"});
  EXPECT_THAT(r.out, HasSubstr("\nautoscale: auto 2..3 vCPUs"));
  r = Vmmctl({"autoscale", "vm1", "--mode=auto", "--max=9"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "vmmctl: INVALID_ARGUMENT: policy.max_vcpus (9) must be at most the VM's max_vcpus "
            "(4)\n");
  r = Vmmctl({"autoscale", "vm1", "--mode=off"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("vm1: autoscale off 2..4 vCPUs"));
}

}  // namespace
}  // namespace vmmd::testing
