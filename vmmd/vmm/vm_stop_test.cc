// StopVm through the ACPI power button, on the fake hypervisor: the GED's power-button event is
// raised, a guest that powers off is STOPPED "guest powered off" without waiting out the grace,
// a guest that ignores the button is forced after it, force and direct boot stop at once, the
// wait blocks no reader, and StopAll waits for every VM in parallel.
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/support/image_dirs.h"
#include "tests/support/status_matchers.h"
#include "vmmd/vmm/board.h"
#include "vmmd/vmm/vm_manager.h"

namespace vmmd::vmm {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::FakeHypervisor;
using ::vmmd::testing::FakeVcpuState;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::ScriptedExit;

constexpr absl::Duration kWait = absl::Seconds(10);

void WriteFile(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), bytes.size());
}

class VmStopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmmd-stop-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    WriteFile(dir_ + "/QEMU_EFI.fd", std::vector<char>(4096, '\xAA'));
    // A minimal arm64 Image header (image_size 2 MiB, LE, 4K pages, "ARM\x64") for direct boot.
    std::vector<char> image(8192, 0);
    image[16 + 2] = 0x20;
    image[24] = 0x2;
    image[0x38] = 'A';
    image[0x39] = 'R';
    image[0x3a] = 'M';
    image[0x3b] = 0x64;
    WriteFile(dir_ + "/Image", image);
    mgr_ = std::make_unique<VmManager>(
        &hv_, ::vmmd::testing::WithImageDirs<VmManagerOptions>({dir_}, dir_ + "/state"));
  }
  void TearDown() override {
    mgr_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }

  // Creates and starts VM `name` (firmware boot unless `direct`); its vCPU 0.
  std::shared_ptr<FakeVcpuState> Run(const std::string& name, bool direct = false) {
    VmSpec s;
    s.name = name;
    s.kernel_path = dir_ + "/Image";
    if (!direct) s.firmware_path = dir_ + "/QEMU_EFI.fd";
    s.memory_mib = 64;
    s.boot_vcpus = 1;
    s.max_vcpus = 2;
    EXPECT_THAT(mgr_->CreateVm(s), IsOk());
    EXPECT_THAT(mgr_->StartVm(name), IsOk());
    std::shared_ptr<FakeVcpuState> v0 = hv_.vms().back()->vcpu(0);
    EXPECT_TRUE(v0->WaitForRunCount(1, kWait));
    return v0;
  }

  // The guest on `v0` reads the GED's ESEL (which clears it) until `bits` show up; whether they
  // did within kWait.
  static bool WaitForGedEvent(const std::shared_ptr<FakeVcpuState>& v0, uint32_t bits) {
    const absl::Time deadline = absl::Now() + kWait;
    while (absl::Now() < deadline) {
      const uint64_t runs = v0->run_count();
      v0->PushExit({core::MmioExit{board::kGed.base, 4, false, {}}, {}});
      if (!v0->WaitForRunCount(runs + 1, kWait)) return false;
      uint32_t v = 0;
      std::vector<uint8_t> d = v0->last_mmio_read_data();
      for (size_t i = 0; i < d.size() && i < 4; ++i) v |= uint32_t{d[i]} << (8 * i);
      if (v == bits) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }

  static void PowerOff(const std::shared_ptr<FakeVcpuState>& v0) {
    v0->PushExit(
        ScriptedExit{core::SystemEventExit{core::SystemEventExit::Type::kShutdown, 0}, {}});
  }

  FakeHypervisor hv_;
  std::unique_ptr<VmManager> mgr_;
  std::string dir_;
};

TEST_F(VmStopTest, AGuestThatPowersOffOnTheButtonStopsBeforeTheGrace) {
  std::shared_ptr<FakeVcpuState> v0 = Run("fw");
  absl::Status stopped;
  const absl::Time start = absl::Now();
  std::thread stop([&] { stopped = mgr_->StopVm("fw", {.grace = absl::Seconds(30)}); });
  // The power-button bit, and only it, is pending in ESEL.
  ASSERT_TRUE(WaitForGedEvent(v0, hw::ged::kEventPowerButton));
  // Meanwhile readers are not blocked: the VM runs and says why it will stop.
  absl::StatusOr<VmInfo> info = mgr_->GetVm("fw");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state, VmState::kRunning);
  EXPECT_EQ(info->state_reason,
            "ACPI power button pressed by a stop request; stopped anyway unless the guest powers "
            "off within 30s");
  EXPECT_EQ(mgr_->ListVms().size(), 1u);
  PowerOff(v0);
  stop.join();
  EXPECT_THAT(stopped, IsOk());
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  info = mgr_->GetVm("fw");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state, VmState::kStopped);
  EXPECT_EQ(info->state_reason, "guest powered off");
  // It starts again.
  EXPECT_THAT(mgr_->StartVm("fw"), IsOk());
}

TEST_F(VmStopTest, AGuestThatIgnoresTheButtonIsForcedAfterTheGrace) {
  std::shared_ptr<FakeVcpuState> v0 = Run("fw");
  const absl::Time start = absl::Now();
  EXPECT_THAT(mgr_->StopVm("fw", {.grace = absl::Milliseconds(300)}), IsOk());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  absl::StatusOr<VmInfo> info = mgr_->GetVm("fw");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state, VmState::kStopped);
  EXPECT_EQ(info->state_reason,
            "stopped by request: the guest did not power off within 300ms of the ACPI power "
            "button; forced");
}

TEST_F(VmStopTest, ForceStopsAtOnceWithoutTheButton) {
  std::shared_ptr<FakeVcpuState> v0 = Run("fw");
  const absl::Time start = absl::Now();
  EXPECT_THAT(mgr_->StopVm("fw", {.grace = absl::ZeroDuration()}), IsOk());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  absl::StatusOr<VmInfo> info = mgr_->GetVm("fw");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state, VmState::kStopped);
  EXPECT_EQ(info->state_reason, "stopped by request (forced)");
  // Not running: a second stop, graceful or not, is refused as before.
  EXPECT_THAT(
      mgr_->StopVm("fw", {.grace = absl::Seconds(30)}),
      ::vmmd::testing::StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("STOPPED")));
}

TEST_F(VmStopTest, ADirectBootVmHasNoButtonAndStopsAtOnce) {
  Run("direct", /*direct=*/true);
  const absl::Time start = absl::Now();
  EXPECT_THAT(mgr_->StopVm("direct", {.grace = absl::Seconds(30)}), IsOk());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  absl::StatusOr<VmInfo> info = mgr_->GetVm("direct");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state, VmState::kStopped);
  EXPECT_EQ(info->state_reason,
            "stopped by request (at once: a device-tree boot has no ACPI power button)");
}

// A forced stop (or a delete) during a graceful one ends the wait at once.
TEST_F(VmStopTest, AForcedStopEndsAGracefulWait) {
  std::shared_ptr<FakeVcpuState> v0 = Run("fw");
  absl::Status graceful;
  const absl::Time start = absl::Now();
  std::thread stop([&] { graceful = mgr_->StopVm("fw", {.grace = absl::Seconds(60)}); });
  ASSERT_TRUE(WaitForGedEvent(v0, hw::ged::kEventPowerButton));
  EXPECT_THAT(mgr_->StopVm("fw"), IsOk());
  stop.join();
  EXPECT_THAT(graceful, IsOk());
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  absl::StatusOr<VmInfo> info = mgr_->GetVm("fw");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state_reason, "stopped by request (forced)");
}

// StopAll presses every button first and waits for all VMs together: two guests that ignore
// the button cost one grace, not two; one that powers off keeps its reason.
TEST_F(VmStopTest, StopAllWaitsForEveryVmInParallel) {
  std::shared_ptr<FakeVcpuState> a = Run("a");
  std::shared_ptr<FakeVcpuState> b = Run("b");
  std::shared_ptr<FakeVcpuState> c = Run("c");
  const absl::Duration grace = absl::Seconds(1);
  const absl::Time start = absl::Now();
  std::thread all([&] { mgr_->StopAll(grace); });
  ASSERT_TRUE(WaitForGedEvent(c, hw::ged::kEventPowerButton));
  PowerOff(c);
  all.join();
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, grace);
  EXPECT_LT(took, 2 * grace) << "the VMs were waited for one after the other";
  absl::StatusOr<VmInfo> info = mgr_->GetVm("c");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state, VmState::kStopped);
  EXPECT_EQ(info->state_reason, "guest powered off");
  info = mgr_->GetVm("a");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state, VmState::kStopped);
  EXPECT_EQ(info->state_reason, "deleted");
}

}  // namespace
}  // namespace vmmd::vmm
