// VMs across vmmd restarts: every change of a VM's spec, size, policy or run intent is in its
// record at once, and a second VmManager on the same state directory brings the VMs back as
// they were asked to be (the first manager's end stands for vmmd being killed: the records are
// all that is left of it).
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/support/firmware_vm_files.h"
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

class VmPersistenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = files_.dir();
    state_ = dir_ + "/state";
    ASSERT_EQ(mkdir(state_.c_str(), 0700), 0);
    mgr_ = NewManager();
  }
  void TearDown() override { mgr_.reset(); }

  // A manager as vmmd makes one: the store opened on the state directory.
  std::unique_ptr<VmManager> NewManager() {
    auto options = ::vmmd::testing::WithImageDirs<VmManagerOptions>({dir_}, state_);
    absl::StatusOr<std::unique_ptr<VmRecordStore>> store = VmRecordStore::Open(state_);
    EXPECT_THAT(store, IsOk());
    if (store.ok()) options.records = std::move(*store);
    return std::make_unique<VmManager>(&hv_, std::move(options));
  }

  VmSpec Spec(const std::string& name) { return files_.Spec(name, 1, 4); }

  // What the state directory holds for `name` now (read by a store of its own).
  absl::StatusOr<VmRecord> RecordOf(const std::string& name) {
    absl::StatusOr<std::unique_ptr<VmRecordStore>> store = VmRecordStore::Open(state_);
    if (!store.ok()) return store.status();
    for (VmRecordStore::Loaded& loaded : (*store)->LoadAll()) {
      if (loaded.name == name) return loaded.record;
    }
    return absl::NotFoundError("no record");
  }

  ::vmmd::testing::FirmwareVmFiles files_;  // outlives the managers
  FakeHypervisor hv_;
  std::string dir_;
  std::string state_;
  std::unique_ptr<VmManager> mgr_;
};

TEST_F(VmPersistenceTest, EveryChangeIsRecordedAndDeleteRemovesIt) {
  ASSERT_THAT(mgr_->CreateVm(Spec("web")), IsOk());
  absl::StatusOr<VmRecord> r = RecordOf("web");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->spec.firmware_path, dir_ + "/QEMU_EFI.fd");
  EXPECT_EQ(r->desired_vcpus, 1u);
  EXPECT_FALSE(r->running);
  EXPECT_EQ(r->created_at, mgr_->GetVm("web")->created_at);

  ASSERT_THAT(mgr_->StartVm("web"), IsOk());
  EXPECT_TRUE(RecordOf("web")->running);
  ASSERT_THAT(mgr_->ScaleVcpus("web", 3, core::ScaleWait::kNone, absl::Now() + kWait), IsOk());
  EXPECT_EQ(RecordOf("web")->desired_vcpus, 3u);

  AutoscalePolicy policy;
  policy.mode = AutoscaleMode::kRecommend;
  policy.min_vcpus = 1;
  policy.max_vcpus = 4;
  policy.target_utilization = 0.5;
  ASSERT_THAT(mgr_->SetAutoscalePolicy("web", policy), IsOk());
  EXPECT_EQ(RecordOf("web")->autoscale.mode, AutoscaleMode::kRecommend);
  EXPECT_EQ(RecordOf("web")->autoscale.target_utilization, 0.5);

  ASSERT_THAT(mgr_->StopVm("web"), IsOk());
  r = RecordOf("web");
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->running);
  EXPECT_EQ(r->desired_vcpus, 3u);

  ASSERT_THAT(mgr_->DeleteVm("web"), IsOk());
  EXPECT_THAT(RecordOf("web"), StatusIs(absl::StatusCode::kNotFound));
  struct stat st {};
  EXPECT_NE(stat((state_ + "/web").c_str(), &st), 0);  // the whole directory is gone
}

TEST_F(VmPersistenceTest, AGuestThatPowersOffStaysDown) {
  ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  auto v0 = hv_.vms().back()->vcpu(0);
  ASSERT_TRUE(v0->WaitForRunCount(1, kWait));
  v0->PushExit(ScriptedExit{core::SystemEventExit{core::SystemEventExit::Type::kShutdown, 0}, {}});
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline && mgr_->GetVm("a")->state != VmState::kStopped) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  ASSERT_EQ(mgr_->GetVm("a")->state, VmState::kStopped);
  // The intent is saved on the controller thread right after the stop.
  while (absl::Now() < deadline && RecordOf("a")->running) absl::SleepFor(absl::Milliseconds(2));
  EXPECT_FALSE(RecordOf("a")->running);
}

// vmmd killed and started again: running VMs boot again with their hot-added vCPUs plugged,
// the others come back as they were; what cannot be used fails that VM alone.
TEST_F(VmPersistenceTest, ARestartBringsEveryVmBackAsItWasAsked) {
  ASSERT_THAT(mgr_->CreateVm(Spec("run")), IsOk());
  ASSERT_THAT(mgr_->StartVm("run"), IsOk());
  ASSERT_THAT(mgr_->ScaleVcpus("run", 3, core::ScaleWait::kNone, absl::Now() + kWait), IsOk());
  ASSERT_THAT(mgr_->CreateVm(Spec("idle")), IsOk());
  ASSERT_THAT(mgr_->CreateVm(Spec("stopped")), IsOk());
  ASSERT_THAT(mgr_->StartVm("stopped"), IsOk());
  ASSERT_THAT(mgr_->StopVm("stopped"), IsOk());
  const absl::Time created = mgr_->GetVm("run")->created_at;
  mgr_.reset();  // the process ends: its VMs are gone, their records stay

  // A record another program (or a torn disk) left corrupt, and one vmmd can no longer accept.
  ASSERT_EQ(mkdir((state_ + "/bad").c_str(), 0700), 0);
  std::ofstream(state_ + "/bad/vm.pb") << "this is not a record";
  VmRecord huge;
  huge.spec = Spec("huge");
  huge.spec.memory_mib = 1u << 30;  // 1 PiB: beyond any host
  huge.desired_vcpus = 1;
  {
    absl::StatusOr<std::unique_ptr<VmRecordStore>> store = VmRecordStore::Open(state_);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT((*store)->Save(huge), IsOk());
  }

  const size_t machines = hv_.vms().size();
  mgr_ = NewManager();
  const RestoreSummary summary = mgr_->Restore();
  EXPECT_EQ(summary.restored, 5);
  EXPECT_EQ(summary.started, 1);
  EXPECT_EQ(summary.failed, 2);
  EXPECT_EQ(hv_.vms().size(), machines + 1);  // only "run" was built

  absl::StatusOr<VmInfo> run = mgr_->GetVm("run");
  ASSERT_THAT(run, IsOk());
  EXPECT_EQ(run->state, VmState::kRunning);
  EXPECT_EQ(run->target_vcpus, 3u);
  EXPECT_EQ(run->created_at, created);
  absl::StatusOr<std::vector<core::VcpuInfo>> cpus = mgr_->GetCpuState("run");
  ASSERT_THAT(cpus, IsOk());
  ASSERT_EQ(cpus->size(), 4u);
  EXPECT_EQ(cpus->at(1).state, core::VcpuState::kEnabled);  // plugged from the start
  EXPECT_EQ(cpus->at(2).state, core::VcpuState::kEnabled);
  EXPECT_EQ(cpus->at(3).state, core::VcpuState::kParked);
  EXPECT_EQ(mgr_->GetVm("idle")->state, VmState::kCreated);
  EXPECT_EQ(mgr_->GetVm("stopped")->state, VmState::kCreated);  // not running; startable
  ASSERT_THAT(mgr_->StartVm("stopped"), IsOk());

  for (const char* name : {"bad", "huge"}) {
    absl::StatusOr<VmInfo> info = mgr_->GetVm(name);
    ASSERT_THAT(info, IsOk()) << name;
    EXPECT_EQ(info->state, VmState::kFailed) << name;
    EXPECT_THAT(mgr_->StartVm(name),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("create it again")));
    EXPECT_THAT(mgr_->SetAutoscalePolicy(name, AutoscalePolicy{}),
                StatusIs(absl::StatusCode::kFailedPrecondition));
  }
  EXPECT_THAT(mgr_->GetVm("bad")->state_reason, HasSubstr("could not be read"));
  EXPECT_THAT(mgr_->GetVm("huge")->state_reason, HasSubstr("no longer passes"));
  EXPECT_THAT(mgr_->CreateVm(Spec("bad")), StatusIs(absl::StatusCode::kAlreadyExists));
  ASSERT_THAT(mgr_->DeleteVm("bad"), IsOk());
  struct stat st {};
  EXPECT_NE(stat((state_ + "/bad").c_str(), &st), 0);
  ASSERT_THAT(mgr_->CreateVm(Spec("bad")), IsOk());  // the name is free again
}

// SIGTERM: every guest is asked to power off through its ACPI power button and does; that is
// not the VM being stopped by anybody, so it runs again after the restart.
TEST_F(VmPersistenceTest, ADaemonShutdownKeepsTheIntentToRun) {
  ASSERT_THAT(mgr_->CreateVm(Spec("a")), IsOk());
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  ASSERT_THAT(mgr_->CreateVm(Spec("b")), IsOk());
  auto v0 = hv_.vms().back()->vcpu(0);
  ASSERT_TRUE(v0->WaitForRunCount(1, kWait));
  std::thread shutdown([this] { mgr_->StopAll(kWait); });
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline &&
         mgr_->GetVm("a")->state_reason.find("power button") == std::string::npos) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  v0->PushExit(ScriptedExit{core::SystemEventExit{core::SystemEventExit::Type::kShutdown, 0}, {}});
  shutdown.join();
  EXPECT_EQ(mgr_->GetVm("a")->state_reason, "guest powered off");
  EXPECT_TRUE(RecordOf("a")->running);
  EXPECT_FALSE(RecordOf("b")->running);
}

TEST_F(VmPersistenceTest, CreateFailsWhenTheRecordCannotBeWritten) {
  std::ofstream(state_ + "/blocked") << "a file where the VM's directory would go";
  EXPECT_THAT(mgr_->CreateVm(Spec("blocked")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("cannot record VM")));
  EXPECT_THAT(mgr_->GetVm("blocked"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_TRUE(mgr_->ListVms().empty());
}

}  // namespace
}  // namespace vmmd::vmm
