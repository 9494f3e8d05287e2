#include "vmmd/vmm/vm_manager.h"

#include <libfdt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/support/fake_kernel.h"
#include "tests/support/image_dirs.h"
#include "tests/support/status_matchers.h"

namespace vmmd::vmm {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::FakeHypervisor;
using ::vmmd::testing::FakeVmRecord;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::ScriptedExit;
using ::vmmd::testing::StatusIs;

constexpr absl::Duration kWait = absl::Seconds(10);

class VmManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmmd-vm-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    kernel_ = ::vmmd::testing::WriteFakeArm64Image(dir_);
    std::ofstream(dir_ + "/initrd.cpio") << "070701 fake initrd";
  }
  void TearDown() override {
    mgr_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }

  VmSpec Spec(const std::string& name, uint32_t boot = 2, uint32_t max = 4) {
    VmSpec s;
    s.name = name;
    s.kernel_path = kernel_;
    s.initrd_path = dir_ + "/initrd.cpio";
    s.cmdline = "console=ttyAMA0";
    s.memory_mib = 128;
    s.boot_vcpus = boot;
    s.max_vcpus = max;
    return s;
  }

  // The first settled state other than `state`: STARTING and STOPPING are passed through (a
  // stop goes RUNNING -> STOPPING -> STOPPED/FAILED, and a loaded machine can show the middle).
  VmState WaitForStateOtherThan(const std::string& name, VmState state) {
    absl::Time deadline = absl::Now() + kWait;
    while (absl::Now() < deadline) {
      auto info = mgr_->GetVm(name);
      const bool settled =
          info.ok() && info->state != VmState::kStarting && info->state != VmState::kStopping;
      if (settled && info->state != state) return info->state;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return state;
  }

  FakeHypervisor hv_;
  // The test files live in a directory under /tmp: /tmp is the image directory.
  std::unique_ptr<VmManager> mgr_ =
      std::make_unique<VmManager>(&hv_, ::vmmd::testing::WithImageDirs<VmManagerOptions>({"/tmp"}));
  std::string dir_;
  std::string kernel_;
};

TEST_F(VmManagerTest, CreateGetListDelete) {
  ASSERT_THAT(mgr_->CreateVm(Spec("b")), IsOk());
  ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());
  EXPECT_THAT(mgr_->CreateVm(Spec("a")), StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("\"a\"")));
  auto info = mgr_->GetVm("a");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state, VmState::kCreated);
  EXPECT_EQ(info->spec.max_vcpus, 4u);
  auto list = mgr_->ListVms();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].spec.name, "a");
  EXPECT_EQ(list[1].spec.name, "b");
  EXPECT_TRUE(hv_.vms().empty());  // nothing in KVM before StartVm
  ASSERT_THAT(mgr_->DeleteVm("a"), IsOk());
  EXPECT_THAT(mgr_->GetVm("a"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(mgr_->DeleteVm("a"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(mgr_->StartVm("zzz"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("no VM named \"zzz\"")));
  EXPECT_THAT(mgr_->GetCpuState("zzz"), StatusIs(absl::StatusCode::kNotFound));
  // Invalid specs never get in.
  VmSpec bad = Spec("c");
  bad.kernel_path = dir_ + "/missing";
  EXPECT_THAT(mgr_->CreateVm(bad), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(mgr_->GetVm("c"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(VmManagerTest, StartBuildsTheVmInKvmOrder) {
  ASSERT_THAT(mgr_->CreateVm(Spec("vm1")), IsOk());
  ASSERT_THAT(mgr_->StartVm("vm1"), IsOk());
  ASSERT_EQ(hv_.vms().size(), 1u);
  std::shared_ptr<FakeVmRecord> rec = hv_.vms()[0];
  ASSERT_EQ(rec->vcpu_count(), 4u);
  ASSERT_TRUE(rec->vcpu(0)->WaitForRunCount(1, kWait));

  std::vector<std::string> log = rec->log();
  auto index = [&](const std::string& entry) {
    return std::find(log.begin(), log.end(), entry) - log.begin();
  };
  // Positions of the entries starting with `prefix`, in log order.
  auto all_with = [&](const std::string& prefix) {
    std::vector<long> at;
    for (size_t i = 0; i < log.size(); ++i) {
      if (log[i].rfind(prefix, 0) == 0) at.push_back(static_cast<long>(i));
    }
    return at;
  };
  const auto vgic_init = index("Vgic.Initialize");
  ASSERT_LT(vgic_init, static_cast<long>(log.size()));
  EXPECT_LT(index("CreateVcpu 3"), vgic_init);  // every vCPU before CTRL_INIT
  const std::vector<long> filters = all_with("SetSmcccFilter");
  const std::vector<long> boot_pc = all_with("SetReg 0 32=");
  ASSERT_EQ(filters.size(), 2u);
  ASSERT_EQ(boot_pc.size(), 1u);
  EXPECT_LT(filters.back(), boot_pc.front());  // filter before boot
  const std::vector<long> timers = all_with("SetTimerPpis");
  ASSERT_EQ(timers.size(), 1u);
  EXPECT_LT(timers.front(), vgic_init);
  const std::vector<long> pmu = all_with("InitPmu");
  ASSERT_EQ(pmu.size(), 4u);  // every vCPU's PMU, each after vGIC init
  for (long at : pmu) EXPECT_GT(at, vgic_init);
  EXPECT_LT(index("Init 0 power_off=0 pmu=1"), vgic_init);
  EXPECT_LT(index("Init 3 power_off=1 pmu=1"), vgic_init);
  EXPECT_EQ(rec->smccc_filters(),
            (std::vector<std::string>{"0x84000002+2:2", "0xc4000003+1:2"}));
  EXPECT_LT(index("Vgic.AddRedistributorRegion 0 0x80a0000 4"), vgic_init);

  // Guest RAM at 1 GiB; vCPU 0 enters the kernel with x0 = the DTB, which describes the boot CPUs.
  auto regions = rec->regions();
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_EQ(regions[0].gpa, 0x4000'0000u);
  EXPECT_EQ(regions[0].size, 128u << 20);
  auto v0 = rec->vcpu(0);
  EXPECT_EQ(v0->reg(core::Reg::kPc), 0x4000'0000u);
  const uint64_t dtb = v0->reg(core::Reg::kX0);
  ASSERT_GE(dtb, regions[0].gpa);
  const void* fdt = static_cast<uint8_t*>(regions[0].host) + (dtb - regions[0].gpa);
  ASSERT_EQ(fdt_check_header(fdt), 0);
  EXPECT_GE(fdt_path_offset(fdt, "/cpus/cpu@0"), 0);
  EXPECT_GE(fdt_path_offset(fdt, "/cpus/cpu@1"), 0);
  EXPECT_LT(fdt_path_offset(fdt, "/cpus/cpu@2"), 0);  // parked vCPUs are not in the DT
  int len = 0;
  const char* bootargs = static_cast<const char*>(fdt_getprop(fdt, fdt_path_offset(fdt, "/chosen"), "bootargs", &len));
  ASSERT_NE(bootargs, nullptr);
  EXPECT_STREQ(bootargs, "console=ttyAMA0");

  auto cpus = mgr_->GetCpuState("vm1");
  ASSERT_THAT(cpus, IsOk());
  ASSERT_EQ(cpus->size(), 4u);
  EXPECT_EQ((*cpus)[0].state, core::VcpuState::kOnline);
  EXPECT_EQ((*cpus)[1].state, core::VcpuState::kOffline);  // until the guest's CPU_ON
  EXPECT_EQ((*cpus)[2].state, core::VcpuState::kParked);
  EXPECT_EQ((*cpus)[3].state, core::VcpuState::kParked);
  EXPECT_EQ((*cpus)[3].mpidr, testing::FakeMpidr(3));
  auto info = mgr_->GetVm("vm1");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state, VmState::kRunning);
  EXPECT_EQ(info->online_vcpus, 1u);

  EXPECT_THAT(mgr_->StartVm("vm1"), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("RUNNING")));
  ASSERT_THAT(mgr_->StopVm("vm1"), IsOk());
  EXPECT_TRUE(rec->destroyed());
  EXPECT_EQ(mgr_->GetVm("vm1")->state, VmState::kStopped);
  EXPECT_THAT(mgr_->StopVm("vm1"), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("STOPPED")));
  // A stopped VM starts again, in a fresh KVM VM.
  ASSERT_THAT(mgr_->StartVm("vm1"), IsOk());
  EXPECT_EQ(hv_.vms().size(), 2u);
}

TEST_F(VmManagerTest, GuestPowerOffStopsOnlyThatVm) {
  ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());
  ASSERT_THAT(mgr_->CreateVm(Spec("b")), IsOk());
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  ASSERT_THAT(mgr_->StartVm("b"), IsOk());
  auto a = hv_.vms()[0];
  a->vcpu(0)->PushExit(
      ScriptedExit{core::SystemEventExit{core::SystemEventExit::Type::kShutdown, 1}, {}});
  EXPECT_EQ(WaitForStateOtherThan("a", VmState::kRunning), VmState::kStopped);
  EXPECT_EQ(mgr_->GetVm("a")->state_reason, "guest powered off");
  EXPECT_TRUE(a->destroyed());
  EXPECT_EQ(mgr_->GetVm("b")->state, VmState::kRunning);
  EXPECT_FALSE(hv_.vms()[1]->destroyed());
  ASSERT_THAT(mgr_->DeleteVm("a"), IsOk());
  ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());  // the name is free again
}

TEST_F(VmManagerTest, FailedVcpuFailsItsVmOnly) {
  ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());
  ASSERT_THAT(mgr_->CreateVm(Spec("b")), IsOk());
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  ASSERT_THAT(mgr_->StartVm("b"), IsOk());
  auto a = hv_.vms()[0];
  a->vcpu(0)->PushExit(ScriptedExit{core::UnhandledExit{17, "INTERNAL_ERROR suberror 1"}, {}});
  EXPECT_EQ(WaitForStateOtherThan("a", VmState::kRunning), VmState::kFailed);
  EXPECT_THAT(mgr_->GetVm("a")->state_reason, HasSubstr("vCPU 0 failed"));
  EXPECT_EQ(mgr_->GetVm("b")->state, VmState::kRunning);
}

TEST_F(VmManagerTest, GuestResetRestartsTheVm) {
  ASSERT_THAT(mgr_->CreateVm(Spec("a", 1, 2)), IsOk());
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  hv_.vms()[0]->vcpu(0)->PushExit(
      ScriptedExit{core::SystemEventExit{core::SystemEventExit::Type::kReset, 2}, {}});
  absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline && mgr_->GetVm("a")->restarts == 0) absl::SleepFor(absl::Milliseconds(5));
  auto info = mgr_->GetVm("a");
  EXPECT_EQ(info->restarts, 1u);
  EXPECT_EQ(WaitForStateOtherThan("a", VmState::kStarting), VmState::kRunning);
  ASSERT_EQ(hv_.vms().size(), 2u);
  EXPECT_TRUE(hv_.vms()[0]->destroyed());
  EXPECT_TRUE(hv_.vms()[1]->vcpu(0)->WaitForRunCount(1, kWait));
}

TEST_F(VmManagerTest, StartFailureLeavesAFailedVmThatCanStartLater) {
  ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());
  hv_.FailNext("Vgic.Initialize", absl::UnavailableError("vGIC CTRL_INIT: Device or resource busy"));
  EXPECT_THAT(mgr_->StartVm("a"), StatusIs(absl::StatusCode::kUnavailable));
  auto info = mgr_->GetVm("a");
  EXPECT_EQ(info->state, VmState::kFailed);
  EXPECT_THAT(info->state_reason, HasSubstr("start failed: vGIC CTRL_INIT"));
  EXPECT_TRUE(hv_.vms()[0]->destroyed());
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  EXPECT_EQ(mgr_->GetVm("a")->state, VmState::kRunning);
}

TEST_F(VmManagerTest, FilesMustBeUnderAnImageDirectory) {
  ASSERT_EQ(::mkdir((dir_ + "/images").c_str(), 0755), 0);
  mgr_ = std::make_unique<VmManager>(
      &hv_, ::vmmd::testing::WithImageDirs<VmManagerOptions>({dir_ + "/images"}));
  EXPECT_THAT(mgr_->CreateVm(Spec("a")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("kernel_path \"" + kernel_ +
                                 "\" is not under an image "
                                 "directory: vmmd opens only files under " +
                                 dir_ + "/images")));
  // No image directory configured: nothing can be named.
  mgr_ = std::make_unique<VmManager>(&hv_);
  EXPECT_THAT(mgr_->CreateVm(Spec("a")), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_TRUE(mgr_->ListVms().empty());
}

// CreateVm checked the file; it is swapped before StartVm: the start opens it again, confined,
// and refuses what it finds now. Nothing reaches KVM.
TEST_F(VmManagerTest, AFileSwappedAfterCreateIsRefusedAtStart) {
  const std::string secret = dir_ + "-secret";
  std::ofstream(secret) << "host secret";
  struct Swap {
    const char* what;
    std::function<void(const std::string&)> make;
    absl::StatusCode code;
    const char* message;
  };
  const std::vector<Swap> swaps = {
      {"symlink out",
       [&](const std::string& p) { ASSERT_EQ(::symlink(secret.c_str(), p.c_str()), 0); },
       absl::StatusCode::kPermissionDenied, "a symbolic link is on the way"},
      {"FIFO", [](const std::string& p) { ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0); },
       absl::StatusCode::kInvalidArgument, "is not a regular file (it is a FIFO)"},
      {"directory", [](const std::string& p) { ASSERT_EQ(::mkdir(p.c_str(), 0700), 0); },
       absl::StatusCode::kInvalidArgument, "is not a regular file (it is a directory)"},
  };
  for (const Swap& swap : swaps) {
    SCOPED_TRACE(swap.what);
    ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());
    const std::string initrd = dir_ + "/initrd.cpio";
    ASSERT_EQ(::rename(initrd.c_str(), (initrd + ".saved").c_str()), 0);
    swap.make(initrd);
    const size_t vms = hv_.vms().size();
    EXPECT_THAT(mgr_->StartVm("a"),
                StatusIs(swap.code, HasSubstr("initrd_path \"" + initrd + "\"")));
    EXPECT_THAT(mgr_->StartVm("a"), StatusIs(swap.code, HasSubstr(swap.message)));
    EXPECT_EQ(hv_.vms().size(), vms);  // refused before anything was built
    auto info = mgr_->GetVm("a");
    EXPECT_EQ(info->state, VmState::kFailed);
    std::system(("rm -rf " + initrd).c_str());
    ASSERT_EQ(::rename((initrd + ".saved").c_str(), initrd.c_str()), 0);
    ASSERT_THAT(mgr_->StartVm("a"), IsOk());  // the real file again
    ASSERT_THAT(mgr_->DeleteVm("a"), IsOk());
  }
  ::unlink(secret.c_str());
}

// The console log is vmmd's: <state_dir>/<name>/console.log, reported by GetVm, gone with
// DeleteVm.
TEST_F(VmManagerTest, TheConsoleLogLivesInTheVmsStateDirectory) {
  const std::string state = dir_ + "/state";
  mgr_ = std::make_unique<VmManager>(
      &hv_, ::vmmd::testing::WithImageDirs<VmManagerOptions>({"/tmp"}, state));
  ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());
  EXPECT_EQ(mgr_->GetVm("a")->console_log_path, state + "/a/console.log");
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  struct stat st {};
  ASSERT_EQ(::stat((state + "/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat((state + "/a/console.log").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  std::ofstream(state + "/a/console.log.1") << "older output";
  ASSERT_THAT(mgr_->DeleteVm("a"), IsOk());
  EXPECT_NE(::stat((state + "/a").c_str(), &st), 0);  // files and directory removed
  // Without a state directory there is no log.
  mgr_ =
      std::make_unique<VmManager>(&hv_, ::vmmd::testing::WithImageDirs<VmManagerOptions>({"/tmp"}));
  ASSERT_THAT(mgr_->CreateVm(Spec("b")), IsOk());
  EXPECT_EQ(mgr_->GetVm("b")->console_log_path, "");
  EXPECT_THAT(mgr_->StartVm("b"), IsOk());
}

// A console.log planted as a symlink to a host file is refused, never written through.
TEST_F(VmManagerTest, AConsoleLogSymlinkIsRefused) {
  const std::string state = dir_ + "/state";
  mgr_ = std::make_unique<VmManager>(
      &hv_, ::vmmd::testing::WithImageDirs<VmManagerOptions>({"/tmp"}, state));
  ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());
  ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((state + "/a").c_str(), 0700), 0);
  const std::string victim = dir_ + "/victim";
  std::ofstream(victim) << "host file\n";
  ASSERT_EQ(::symlink(victim.c_str(), (state + "/a/console.log").c_str()), 0);
  EXPECT_THAT(mgr_->StartVm("a"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("symbolic link")));
  std::ifstream in(victim);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "host file\n");
}

TEST_F(VmManagerTest, DeleteStopsARunningVm) {
  ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  auto rec = hv_.vms()[0];
  ASSERT_THAT(mgr_->DeleteVm("a"), IsOk());
  EXPECT_TRUE(rec->destroyed());
  EXPECT_TRUE(mgr_->ListVms().empty());
}

TEST_F(VmManagerTest, StopAllStopsEverything) {
  ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());
  ASSERT_THAT(mgr_->CreateVm(Spec("b")), IsOk());
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  ASSERT_THAT(mgr_->StartVm("b"), IsOk());
  mgr_->StopAll();
  EXPECT_TRUE(hv_.vms()[0]->destroyed());
  EXPECT_TRUE(hv_.vms()[1]->destroyed());
}

// WatchEvents' protocol: a snapshot (one empty event when there is no VM), then the changes.
TEST_F(VmManagerTest, WatchStartsWithASnapshotThenStreamsChanges) {
  auto none = mgr_->Watch("");
  ASSERT_THAT(none, IsOk());
  std::optional<WatchEvent> e = (*none)->Next(absl::Now());
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->snapshot);
  EXPECT_EQ(e->kind, WatchEvent::Kind::kEmpty);
  EXPECT_EQ(e->vm, "");

  ASSERT_THAT(mgr_->CreateVm(Spec("b")), IsOk());
  ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());
  EXPECT_THAT(mgr_->Watch("zzz"), StatusIs(absl::StatusCode::kNotFound));
  auto all = mgr_->Watch("");
  ASSERT_THAT(all, IsOk());
  auto one = mgr_->Watch("b");
  ASSERT_THAT(one, IsOk());
  for (const char* name : {"a", "b"}) {
    e = (*all)->Next(absl::Now());
    ASSERT_TRUE(e.has_value());
    EXPECT_TRUE(e->snapshot);
    EXPECT_EQ(e->vm, name);
    EXPECT_EQ(e->vm_state, VmState::kCreated);
  }
  e = (*one)->Next(absl::Now());
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->vm, "b");
  EXPECT_TRUE(e->snapshot);

  ASSERT_THAT(mgr_->StartVm("b"), IsOk());
  std::vector<std::string> seen;
  while (auto next = (*one)->Next(absl::Now() + absl::Milliseconds(100))) {
    EXPECT_FALSE(next->snapshot);
    EXPECT_EQ(next->dropped_before, 0u);
    if (next->kind == WatchEvent::Kind::kVmState)
      seen.push_back(std::string(VmStateName(next->vm_state)));
    if (seen.size() == 2) break;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"STARTING", "RUNNING"}));
  mgr_->StopAll();
  // The hub shut down: the streams end.
  while ((*all)->Next(absl::Now()).has_value()) {
  }
  EXPECT_TRUE((*all)->closed());
}

// A reader that falls behind learns how many events it lost, on the next one it gets.
TEST(EventStreamTest, CountsWhatASlowReaderLost) {
  EventHub hub;
  EventStream stream(hub.Subscribe("", /*capacity=*/2), {});
  ASSERT_TRUE(stream.Next(absl::Now()).has_value());  // the empty snapshot
  for (uint32_t i = 0; i < 5; ++i) {
    WatchEvent e;
    e.vm = "x";
    e.kind = WatchEvent::Kind::kVcpuState;
    e.vcpu = i;
    hub.Publish(e);
  }
  std::optional<WatchEvent> first = stream.Next(absl::Now());
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->vcpu, 3u);
  EXPECT_EQ(first->dropped_before, 3u);
  std::optional<WatchEvent> second = stream.Next(absl::Now());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->vcpu, 4u);
  EXPECT_EQ(second->dropped_before, 0u);
  EXPECT_FALSE(stream.Next(absl::Now()).has_value());
  EXPECT_FALSE(stream.closed());
  hub.Shutdown();
  EXPECT_TRUE(stream.closed());
}

}  // namespace
}  // namespace vmmd::vmm
