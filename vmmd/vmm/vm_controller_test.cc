// The VM controller's threads and guest resets, on the fake hypervisor: a VM that does not run
// costs no thread, a host out of threads fails StartVm with RESOURCE_EXHAUSTED, and a guest that
// resets again and again is restarted with a back-off, then stopped FAILED.
#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/common/thread.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/support/image_dirs.h"
#include "tests/support/status_matchers.h"
#include "vmmd/vmm/vm_manager.h"

namespace vmmd::vmm {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::FakeHypervisor;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::ScriptedExit;
using ::vmmd::testing::StatusIs;

constexpr absl::Duration kWait = absl::Seconds(10);

// The threads of this process (/proc/self/task).
int ThreadCount() {
  int n = 0;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  while (dirent* e = readdir(dir)) n += e->d_name[0] != '.' ? 1 : 0;
  closedir(dir);
  return n;
}

// Waits until the process has `n` threads (an ending thread leaves /proc/self/task a moment
// after it is told to); the count it saw last.
int WaitForThreadCount(int n) {
  const absl::Time deadline = absl::Now() + kWait;
  int count = ThreadCount();
  while (count != n && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
    count = ThreadCount();
  }
  return count;
}

class VmControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmmd-controller-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // A minimal arm64 Image header: image_size 2 MiB, LE, 4K pages, "ARM\x64".
    std::vector<char> image(8192, 0);
    image[16 + 2] = 0x20;  // image_size = 2 MiB
    image[24] = 0x2;       // flags
    image[0x38] = 'A';
    image[0x39] = 'R';
    image[0x3a] = 'M';
    image[0x3b] = 0x64;
    std::ofstream(dir_ + "/Image", std::ios::binary).write(image.data(), image.size());
  }
  void TearDown() override {
    mgr_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }
  void MakeManager(RestartPolicy restart = {}) {
    VmManagerOptions options;
    options.image_dirs = ::vmmd::testing::ImageDirsFor({"/tmp"});
    options.restart = restart;
    mgr_ = std::make_unique<VmManager>(&hv_, std::move(options));
  }
  VmSpec Spec(const std::string& name) {
    VmSpec s;
    s.name = name;
    s.kernel_path = dir_ + "/Image";
    s.cmdline = "console=ttyAMA0";
    s.memory_mib = 128;
    s.boot_vcpus = 1;
    s.max_vcpus = 2;
    return s;
  }
  // Waits until VM `name` is in `state`; the state it saw last.
  VmState WaitForState(const std::string& name, VmState state) {
    const absl::Time deadline = absl::Now() + kWait;
    VmState seen = mgr_->GetVm(name)->state;
    while (seen != state && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(2));
      seen = mgr_->GetVm(name)->state;
    }
    return seen;
  }
  // The guest of machine `index` (the index-th built, from 0) resets at once.
  void GuestResets(size_t index) {
    const absl::Time deadline = absl::Now() + kWait;
    while (hv_.vms().size() <= index && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_GT(hv_.vms().size(), index);
    // Its boot vCPU runs (the machine is built and started).
    while (absl::Now() < deadline &&
           (hv_.vms()[index]->vcpu(0) == nullptr || hv_.vms()[index]->vcpu(0)->run_count() == 0)) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_NE(hv_.vms()[index]->vcpu(0), nullptr);
    hv_.vms()[index]->vcpu(0)->PushExit(
        ScriptedExit{core::SystemEventExit{core::SystemEventExit::Type::kReset, 2}, {}});
  }

  FakeHypervisor hv_;
  std::unique_ptr<VmManager> mgr_;
  std::string dir_;
};

TEST_F(VmControllerTest, AVmThatDoesNotRunCostsNoThread) {
  MakeManager();
  const int baseline = ThreadCount();
  for (int i = 0; i < 200; ++i) ASSERT_THAT(mgr_->CreateVm(Spec(absl::StrCat("vm", i))), IsOk());
  EXPECT_EQ(ThreadCount(), baseline) << "200 created VMs";

  ASSERT_THAT(mgr_->StartVm("vm7"), IsOk());
  EXPECT_EQ(ThreadCount(), baseline + 2);  // its controller and its boot vCPU
  ASSERT_THAT(mgr_->StopVm("vm7"), IsOk());
  EXPECT_EQ(WaitForThreadCount(baseline), baseline) << "stopped";

  // Stopped by the guest (power off): the controller ends on its own.
  ASSERT_THAT(mgr_->StartVm("vm7"), IsOk());
  hv_.vms().back()->vcpu(0)->PushExit(
      ScriptedExit{core::SystemEventExit{core::SystemEventExit::Type::kShutdown, 0}, {}});
  EXPECT_EQ(WaitForState("vm7", VmState::kStopped), VmState::kStopped);
  EXPECT_EQ(WaitForThreadCount(baseline), baseline) << "powered off by the guest";
  // And it starts again (joining the ended controller).
  ASSERT_THAT(mgr_->StartVm("vm7"), IsOk());
  EXPECT_EQ(ThreadCount(), baseline + 2);
  ASSERT_THAT(mgr_->DeleteVm("vm7"), IsOk());
  EXPECT_EQ(WaitForThreadCount(baseline), baseline) << "deleted";
}

TEST_F(VmControllerTest, StartWithoutAHostThreadIsResourceExhaustedAndLeavesNoThread) {
  MakeManager();
  ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());
  const int baseline = ThreadCount();
  {
    ScopedThreadStartFailures no_threads(1);  // the controller's
    EXPECT_THAT(mgr_->StartVm("a"),
                StatusIs(absl::StatusCode::kResourceExhausted,
                         "cannot create a thread: controller of VM a: Resource temporarily "
                         "unavailable"));
  }
  auto info = mgr_->GetVm("a");
  EXPECT_EQ(info->state, VmState::kFailed);
  EXPECT_EQ(info->state_reason,
            "start failed: cannot create a thread: controller of VM a: Resource temporarily "
            "unavailable");
  EXPECT_TRUE(hv_.vms().empty()) << "no KVM work without the controller";
  {
    ScopedThreadStartFailures no_threads(1, EAGAIN, /*skip=*/1);  // the boot vCPU's
    EXPECT_THAT(mgr_->StartVm("a"), StatusIs(absl::StatusCode::kResourceExhausted,
                                             HasSubstr("cannot create a thread: vCPU 0 of a")));
  }
  EXPECT_EQ(mgr_->GetVm("a")->state, VmState::kFailed);
  EXPECT_EQ(WaitForThreadCount(baseline), baseline);
  // The host has threads again.
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  EXPECT_EQ(mgr_->GetVm("a")->state, VmState::kRunning);
}

TEST_F(VmControllerTest, AResetLoopBacksOffThenFails) {
  MakeManager(RestartPolicy{.window = absl::Minutes(1),
                            .max_resets = 3,
                            .first_backoff = absl::Milliseconds(100),
                            .max_backoff = absl::Milliseconds(150)});
  ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());
  const int baseline = ThreadCount();
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  const absl::Time start = absl::Now();
  for (size_t machine = 0; machine < 4; ++machine) GuestResets(machine);
  EXPECT_EQ(WaitForState("a", VmState::kFailed), VmState::kFailed);
  // Restarts: at once, after 100 ms, after 150 ms (capped); the 4th reset stops it.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(250));
  auto info = mgr_->GetVm("a");
  EXPECT_EQ(info->state_reason, "guest reset 4 times within 1m; stopped");
  EXPECT_EQ(info->restarts, 3u);
  EXPECT_EQ(hv_.vms().size(), 4u);
  EXPECT_EQ(WaitForThreadCount(baseline), baseline);
  // An operator may start it again.
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  EXPECT_EQ(mgr_->GetVm("a")->state, VmState::kRunning);
}

TEST_F(VmControllerTest, StopDuringTheBackOffCancelsTheRestart) {
  MakeManager(RestartPolicy{.first_backoff = absl::Seconds(30)});
  ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());
  const int baseline = ThreadCount();
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  GuestResets(0);
  GuestResets(1);  // the second reset waits 30 s
  const absl::Time deadline = absl::Now() + kWait;
  while (mgr_->GetVm("a")->restarts < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  auto info = mgr_->GetVm("a");
  EXPECT_EQ(info->state, VmState::kStopped);
  EXPECT_EQ(info->state_reason, "guest reset 2 times within 5m; restarting in 30s");
  EXPECT_EQ(ThreadCount(), baseline + 1);  // the controller, waiting
  const absl::Time before = absl::Now();
  ASSERT_THAT(mgr_->StopVm("a"), IsOk());
  EXPECT_LT(absl::Now() - before, absl::Seconds(5));
  info = mgr_->GetVm("a");
  EXPECT_EQ(info->state, VmState::kStopped);
  EXPECT_EQ(info->state_reason, "stopped by request while waiting to restart after a guest reset");
  EXPECT_EQ(WaitForThreadCount(baseline), baseline);
  EXPECT_EQ(hv_.vms().size(), 2u);
  EXPECT_THAT(mgr_->StopVm("a"), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace vmmd::vmm
