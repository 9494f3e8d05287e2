// VcpuManager's hotplug side: declarative Scale, AwaitScale, and the CPU-hotplug backend the
// guest's AML drives. The guest is simulated by calling the backend (AckInsert, Eject, ...) and
// by scripting PSCI calls on the fake vCPUs, in the order Linux does them.
#include <optional>
#include <thread>

#include "absl/synchronization/notification.h"
#include "core/common/log.h"
#include "core/vcpu/vcpu_manager_fixture.h"
#include "gtest/gtest.h"

namespace vmmd::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

class VcpuHotplugTest : public VcpuManagerTest {
 protected:
  void SetUp() override {
    VcpuManagerTest::SetUp();
    ASSERT_THAT(mgr_->StartBootVcpu(0x4020'0000, 0), IsOk());
    ASSERT_EQ(Call(0, psci::kFnCpuOn64, Affinity(1), 0x4030'0000, 1), 0u);
  }
  // What Linux >= 6.11 does on the GED: its scan takes the insert event (clears it), then it
  // registers the CPU and reports that with _OST(Device Check, success).
  void GuestTakesAndRegisters(uint32_t id) {
    mgr_->AckInsert(id);
    mgr_->Ost(id, 1, 0);
  }
  // What Linux does after Notify(Cxxx, 1) and a udev/mdev online rule: CPU_ON from vCPU 0.
  uint64_t GuestOnlines(uint32_t id) { return Call(0, psci::kFnCpuOn64, Affinity(id), 0x4040'0000, id); }
  // The guest offlines vCPU `id` (CPU_OFF on that vCPU's own thread).
  void GuestOfflines(uint32_t id) {
    auto v = record_->vcpu(id);
    ASSERT_TRUE(v->WaitForRunCount(1, kWait));
    v->PushExit(ScriptedExit{HypercallExit{psci::kFnCpuOff, false}, {}});
    ASSERT_TRUE(v->WaitForMpState(MpState::kStopped, kWait));
    for (int i = 0; i < 500 && mgr_->Snapshot()[id].power != PsciPower::kOff; ++i) {
      absl::SleepFor(absl::Milliseconds(2));
    }
  }
  absl::Status AwaitNow(uint64_t generation, ScaleWait wait) {
    return mgr_->AwaitScale(generation, wait, absl::Now() + absl::Milliseconds(50));
  }
};

TEST_F(VcpuHotplugTest, HotAddToOnlineAndHotRemoveToParked) {
  auto plan = mgr_->Scale(4);
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->previous, 2u);
  EXPECT_THAT(plan->added, ElementsAre(2, 3));
  EXPECT_TRUE(plan->notify_guest);
  EXPECT_EQ(StateOf(2), VcpuState::kEnabling);
  CpuHotplugStatus st = mgr_->Status(2);
  EXPECT_TRUE(st.enabled);
  EXPECT_TRUE(st.insert_pending);
  EXPECT_EQ(mgr_->ArchId(3), FakeMpidr(3));
  EXPECT_THAT(AwaitNow(plan->generation, ScaleWait::kEnabled),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("vCPU 2 is ENABLING")));

  // The guest's CSCN takes the events (clears CINS): still ENABLING until it registers.
  mgr_->AckInsert(2);
  mgr_->AckInsert(3);
  EXPECT_EQ(StateOf(2), VcpuState::kEnabling);
  EXPECT_FALSE(mgr_->Status(2).insert_pending);
  mgr_->Ost(2, 1, 0);  // _OST(Device Check, success): registered
  mgr_->Ost(3, 1, 0);
  EXPECT_EQ(StateOf(2), VcpuState::kEnabled);
  EXPECT_THAT(AwaitNow(plan->generation, ScaleWait::kEnabled), IsOk());
  EXPECT_THAT(AwaitNow(plan->generation, ScaleWait::kOnline),
              StatusIs(absl::StatusCode::kDeadlineExceeded,
                       HasSubstr("vCPU 2 is ENABLED, vCPU 3 is ENABLED")));
  // The online rule: CPU_ON for each.
  EXPECT_EQ(GuestOnlines(2), 0u);
  EXPECT_EQ(GuestOnlines(3), 0u);
  EXPECT_THAT(AwaitNow(plan->generation, ScaleWait::kOnline), IsOk());
  EXPECT_EQ(mgr_->PluggedCount(), 4u);

  // Idempotent.
  auto same = mgr_->Scale(4);
  ASSERT_THAT(same, IsOk());
  EXPECT_EQ(same->previous, 4u);
  EXPECT_TRUE(same->added.empty() && same->removed.empty());
  EXPECT_FALSE(same->notify_guest);

  // Down to 2: the highest ids go, through eject requests.
  auto down = mgr_->Scale(2);
  ASSERT_THAT(down, IsOk());
  EXPECT_THAT(down->removed, ElementsAre(3, 2));
  EXPECT_TRUE(down->notify_guest);
  EXPECT_EQ(StateOf(3), VcpuState::kRemoving);
  EXPECT_TRUE(mgr_->Status(3).remove_pending);
  EXPECT_TRUE(mgr_->Status(3).enabled);
  for (uint32_t id : {3u, 2u}) {
    mgr_->AckRemove(id);   // CSCN: Notify(3) + clear CRMV
    GuestOfflines(id);     // the guest offlines it (CPU_OFF), the thread ends
    EXPECT_EQ(StateOf(id), VcpuState::kRemoving);
    mgr_->Eject(id);       // _EJ0: Enabled must read clear right away
    EXPECT_FALSE(mgr_->Status(id).enabled);
    EXPECT_EQ(StateOf(id), VcpuState::kParked);
  }
  EXPECT_THAT(AwaitNow(down->generation, ScaleWait::kOnline), IsOk());
  EXPECT_EQ(mgr_->Snapshot()[3].thread_id, 0);
  // Each phase of each vCPU's hot-add and hot-remove was timed once, from its request.
  const VcpuStats stats = mgr_->Stats();
  for (HotplugPhase p : kHotplugPhases) {
    EXPECT_EQ(stats.phase(p).count(), 2u) << HotplugPhaseName(p);
    EXPECT_GE(stats.phase(p).sum_seconds(), 0.0) << HotplugPhaseName(p);
  }
  EXPECT_GE(stats.phase(HotplugPhase::kOnline).sum_seconds(),
            stats.phase(HotplugPhase::kEnabled).sum_seconds());
  // Parked again: the guest's CPU_ON is DENIED, and the vCPU can be re-added.
  EXPECT_EQ(GuestOnlines(3), psci::EncodeReturn(psci::Return::kDenied));
  auto again = mgr_->Scale(3);
  ASSERT_THAT(again, IsOk());
  EXPECT_THAT(again->added, ElementsAre(2));
}

TEST_F(VcpuHotplugTest, BoundsAndBootVcpus) {
  EXPECT_THAT(mgr_->Scale(1), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("below the VM's 2 boot vCPUs")));
  EXPECT_THAT(mgr_->Scale(5), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("exceeds the VM's max_vcpus (4)")));
  // A boot vCPU can never be ejected, even by a hostile guest.
  GuestOfflines(1);
  mgr_->Eject(1);
  EXPECT_TRUE(mgr_->Status(1).enabled);
  EXPECT_EQ(StateOf(1), VcpuState::kOffline);
}

TEST_F(VcpuHotplugTest, RefusedHotplugWritesInALoopGiveABoundedLogWrittenAfterTheLocks) {
  ScopedLogCapture log;
  for (int i = 0; i < 100000; ++i) {
    mgr_->Eject(0);             // a boot vCPU: refused
    mgr_->Ost(2, 0x103, 0x80);  // a failed _OST for a non-boot vCPU
    if (i == 0) {
      EXPECT_TRUE(log.lines().empty()) << "logged under the locks";
    }
    mgr_->FlushLog();  // what the register block does after each write
  }
  const std::vector<std::string> lines = log.lines();
  // 200 000 refused writes: the first 8, then every 1024th.
  ASSERT_EQ(lines.size(), 8u + 200000u / 1024u);
  EXPECT_EQ(lines[0],
            "W t: _EJ0 for vCPU 0 refused (1 refused guest hotplug writes so far): vCPU event "
            "Ejected not allowed in state ONLINE: boot vCPUs are permanent");
  EXPECT_EQ(lines[1],
            "W t: guest _OST for vCPU 2: event 0x103 failed with status 0x80 (2 refused guest "
            "hotplug writes so far)");
  EXPECT_EQ(StateOf(0), VcpuState::kOnline);
}

TEST_F(VcpuHotplugTest, EjectOfARunningVcpuIsRefused) {
  auto plan = mgr_->Scale(3);
  GuestTakesAndRegisters(2);
  ASSERT_EQ(GuestOnlines(2), 0u);
  ASSERT_THAT(mgr_->Scale(2), IsOk());
  mgr_->AckRemove(2);
  mgr_->Eject(2);  // still powered on: "Eject incomplete" for the guest
  EXPECT_TRUE(mgr_->Status(2).enabled);
  EXPECT_EQ(StateOf(2), VcpuState::kRemoving);
}

TEST_F(VcpuHotplugTest, WithdrawingAnUnacknowledgedChange) {
  auto up = mgr_->Scale(3);
  ASSERT_THAT(up, IsOk());
  auto down = mgr_->Scale(2);  // the guest never saw the insert
  ASSERT_THAT(down, IsOk());
  EXPECT_THAT(down->removed, ElementsAre(2));
  EXPECT_FALSE(down->notify_guest);
  EXPECT_EQ(StateOf(2), VcpuState::kParked);
  EXPECT_FALSE(mgr_->Status(2).insert_pending);
  EXPECT_FALSE(mgr_->Status(2).enabled);
  GuestTakesAndRegisters(2);  // a late, stray acknowledgement and report change nothing
  EXPECT_EQ(StateOf(2), VcpuState::kParked);

  // A removal the guest has not acknowledged is withdrawn the same way...
  ASSERT_THAT(mgr_->Scale(3), IsOk());
  GuestTakesAndRegisters(2);
  ASSERT_EQ(GuestOnlines(2), 0u);
  ASSERT_THAT(mgr_->Scale(2), IsOk());
  auto back = mgr_->Scale(3);
  ASSERT_THAT(back, IsOk());
  EXPECT_THAT(back->added, ElementsAre(2));
  EXPECT_EQ(StateOf(2), VcpuState::kOnline);
  EXPECT_FALSE(mgr_->Status(2).remove_pending);
  // ...but one the guest is carrying out must finish first: other parked vCPUs are taken
  // meanwhile, and a target that needs this one is refused as retryable.
  ASSERT_THAT(mgr_->Scale(2), IsOk());
  mgr_->AckRemove(2);
  auto other = mgr_->Scale(3);
  ASSERT_THAT(other, IsOk());
  EXPECT_THAT(other->added, ElementsAre(3));
  EXPECT_THAT(mgr_->Scale(4), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("vCPU(s) 2")));
}

// A waiter with no deadline, asleep in AwaitScale, is woken by what the test does next and by
// nothing else; if it is not woken the test fails after kWait (and stops the manager to free it).
class AsleepWaiter {
 public:
  AsleepWaiter(VcpuManager* mgr, uint64_t generation) : mgr_(mgr) {
    thread_ = std::thread([this, generation] {
      result_ = mgr_->AwaitScale(generation, ScaleWait::kOnline, absl::InfiniteFuture());
      done_.Notify();
    });
    const absl::Time deadline = absl::Now() + kWait;
    while (mgr_->scale_waiters() != 1 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    asleep_ = mgr_->scale_waiters() == 1;
  }
  ~AsleepWaiter() {
    if (!done_.HasBeenNotified()) mgr_->StopAll();
    thread_.join();
  }
  bool asleep() const { return asleep_; }
  // The waiter's result, once it woke (nullopt if it did not within kWait).
  std::optional<absl::Status> Result() {
    if (!done_.WaitForNotificationWithTimeout(kWait)) return std::nullopt;
    return result_;
  }

 private:
  VcpuManager* const mgr_;
  std::thread thread_;
  absl::Notification done_;
  absl::Status result_;
  bool asleep_ = false;
};

TEST_F(VcpuHotplugTest, ANewerRequestSupersedesAWaitingOne) {
  auto first = mgr_->Scale(3);
  ASSERT_THAT(first, IsOk());
  ScaleOutcome outcome = ScaleOutcome::kOk;
  auto second = mgr_->Scale(4);
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT(mgr_->AwaitScale(first->generation, ScaleWait::kNone, absl::Now(), &outcome),
              StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(outcome, ScaleOutcome::kSuperseded);
  first = mgr_->Scale(3);
  ASSERT_THAT(first, IsOk());
  AsleepWaiter waiter(mgr_.get(), first->generation);
  ASSERT_TRUE(waiter.asleep());
  ASSERT_THAT(mgr_->Scale(4), IsOk());
  std::optional<absl::Status> woke = waiter.Result();
  ASSERT_TRUE(woke.has_value()) << "the superseded request was not woken";
  EXPECT_THAT(*woke, StatusIs(absl::StatusCode::kAborted, HasSubstr("superseded")));
}

TEST_F(VcpuHotplugTest, StopWakesWaiters) {
  auto plan = mgr_->Scale(3);
  ASSERT_THAT(plan, IsOk());
  AsleepWaiter waiter(mgr_.get(), plan->generation);
  ASSERT_TRUE(waiter.asleep());
  mgr_->StopAll();
  std::optional<absl::Status> woke = waiter.Result();
  ASSERT_TRUE(woke.has_value()) << "the stop did not wake the request";
  EXPECT_THAT(*woke, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("stopped")));
  EXPECT_THAT(mgr_->Scale(4), StatusIs(absl::StatusCode::kFailedPrecondition));
}

// The guest's progress wakes a waiter too: registering and starting the vCPU completes it.
TEST_F(VcpuHotplugTest, GuestProgressWakesWaiters) {
  auto plan = mgr_->Scale(3);
  ASSERT_THAT(plan, IsOk());
  AsleepWaiter waiter(mgr_.get(), plan->generation);
  ASSERT_TRUE(waiter.asleep());
  GuestTakesAndRegisters(2);
  ASSERT_EQ(GuestOnlines(2), 0u);
  std::optional<absl::Status> woke = waiter.Result();
  ASSERT_TRUE(woke.has_value()) << "the guest's progress did not wake the request";
  EXPECT_THAT(*woke, IsOk());
}

TEST_F(VcpuHotplugTest, GuestRefusalThroughOstFailsTheRequest) {
  auto plan = mgr_->Scale(3);
  ASSERT_THAT(plan, IsOk());
  mgr_->AckInsert(2);
  mgr_->Ost(2, 1, 1);  // the guest's Device Check failed: non-specific failure
  ScaleOutcome outcome = ScaleOutcome::kOk;
  EXPECT_THAT(mgr_->AwaitScale(plan->generation, ScaleWait::kOnline, absl::Now() + kWait, &outcome),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("refused vCPU 2")));
  EXPECT_EQ(outcome, ScaleOutcome::kRefused);
  // A later request is not poisoned by the old refusal.
  auto next = mgr_->Scale(2);
  ASSERT_THAT(next, IsOk());
  EXPECT_THAT(AwaitNow(next->generation, ScaleWait::kNone), IsOk());
}

TEST_F(VcpuHotplugTest, EveryTransitionIsReported) {
  auto plan = mgr_->Scale(3);
  GuestTakesAndRegisters(2);
  ASSERT_EQ(GuestOnlines(2), 0u);
  EXPECT_THAT(sink_.transitions(),
              ElementsAre("0 OFFLINE->ONLINE boot", "1 OFFLINE->ONLINE guest CPU_ON",
                          "2 PARKED->ENABLING api: scale up",
                          "2 ENABLING->ENABLED guest registered the CPU",
                          "2 ENABLED->ONLINE guest CPU_ON"));
}

// Linux 6.1: its AML scan takes the insert, but the kernel never registers the CPU nor
// evaluates _OST. vmmd says so once the grace period is over, instead of waiting out the
// caller's deadline and blaming a missing online rule.
TEST_F(VcpuHotplugTest, TakenButNeverRegisteredFailsFastWithTheReason) {
  mgr_->SetRegistrationGrace(absl::Milliseconds(100));
  auto plan = mgr_->Scale(3);
  ASSERT_THAT(plan, IsOk());
  mgr_->AckInsert(2);
  const absl::Time start = absl::Now();
  ScaleOutcome outcome = ScaleOutcome::kOk;
  EXPECT_THAT(mgr_->AwaitScale(plan->generation, ScaleWait::kOnline, absl::Now() + kWait, &outcome),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("did not register the CPU within 100ms")));
  EXPECT_EQ(outcome, ScaleOutcome::kUnsupported);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(StateOf(2), VcpuState::kEnabling);
  // Withdrawing it needs no eject (the guest never registered it).
  auto down = mgr_->Scale(2);
  ASSERT_THAT(down, IsOk());
  EXPECT_EQ(StateOf(2), VcpuState::kParked);
  EXPECT_FALSE(down->notify_guest);
}

// A guest that took the insert and is registering the CPU: a smaller target ejects it.
TEST_F(VcpuHotplugTest, WithdrawingATakenInsertEjects) {
  ASSERT_THAT(mgr_->Scale(3), IsOk());
  mgr_->AckInsert(2);
  auto down = mgr_->Scale(2);
  ASSERT_THAT(down, IsOk());
  EXPECT_EQ(StateOf(2), VcpuState::kRemoving);
  EXPECT_TRUE(down->notify_guest);
  EXPECT_TRUE(mgr_->Status(2).remove_pending);
}

// The guest's CSCN reads a vCPU's flags, Notifies, then clears them. A newer request that lands
// between the read and the clear must not take the change back: the guest is already carrying it
// out. (Seen in the nested bed: a withdrawn removal still offlined and ejected by the guest, its
// _EJ0 refused, the CPU gone from the guest while vmmd counted it.)
TEST_F(VcpuHotplugTest, AChangeTheGuestHasReadIsNotWithdrawn) {
  ASSERT_THAT(mgr_->Scale(3), IsOk());
  GuestTakesAndRegisters(2);
  ASSERT_EQ(GuestOnlines(2), 0u);
  ASSERT_THAT(mgr_->Scale(2), IsOk());
  EXPECT_TRUE(mgr_->ReadStatus(2).remove_pending);  // the scan reads CRMV = 1
  EXPECT_TRUE(mgr_->ReadStatus(2).remove_pending);  // reading again changes nothing
  // The newer target is met with the other parked vCPU; vCPU 2 stays on its way out.
  auto up = mgr_->Scale(3);
  ASSERT_THAT(up, IsOk());
  EXPECT_THAT(up->added, ElementsAre(3));
  EXPECT_EQ(StateOf(2), VcpuState::kRemoving);
  EXPECT_THAT(mgr_->Scale(4), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("vCPU(s) 2")));
  // The guest goes on: Notify(eject), clear, offline, _EJ0 — accepted.
  mgr_->AckRemove(2);
  GuestOfflines(2);
  mgr_->Eject(2);
  EXPECT_EQ(StateOf(2), VcpuState::kParked);
  EXPECT_FALSE(mgr_->Status(2).enabled);
  EXPECT_EQ(mgr_->PluggedCount(), 3u);

  // An insert the guest has read: a smaller target ejects it instead of withdrawing it, and the
  // guest is told again so that its scan finds the removal.
  ASSERT_THAT(mgr_->Scale(4), IsOk());
  GuestTakesAndRegisters(3);  // vCPU 3's offer from before; 2 is offered now
  EXPECT_TRUE(mgr_->ReadStatus(2).insert_pending);
  auto down = mgr_->Scale(3);
  ASSERT_THAT(down, IsOk());
  EXPECT_THAT(down->removed, ElementsAre(3));  // highest first: 3 is the one ejected...
  auto down2 = mgr_->Scale(2);
  ASSERT_THAT(down2, IsOk());
  EXPECT_THAT(down2->removed, ElementsAre(2));  // ...and 2, seen, is ejected rather than withdrawn
  EXPECT_TRUE(down2->notify_guest);
  EXPECT_EQ(StateOf(2), VcpuState::kRemoving);
  EXPECT_TRUE(mgr_->Status(2).remove_pending);
  EXPECT_FALSE(mgr_->Status(2).insert_pending);
  // The guest finishes its round (a stray clear), registers the CPU, cannot start it, then its
  // next round takes the removal and ejects it.
  GuestTakesAndRegisters(2);
  EXPECT_EQ(GuestOnlines(2), psci::EncodeReturn(psci::Return::kDenied));
  mgr_->AckRemove(2);
  mgr_->Eject(2);
  EXPECT_EQ(StateOf(2), VcpuState::kParked);
}

}  // namespace
}  // namespace vmmd::core

namespace vmmd::core {
namespace {

class VcpuHotplugEvidenceTest : public VcpuHotplugTest {};

// Linux 6.1: takes the insert, answers _OST success, registers nothing, never starts it — and
// never tried to start any online-capable vCPU before. vmmd says what that means, fast.
TEST_F(VcpuHotplugEvidenceTest, RegisteredButNeverStartedOnAGuestWithoutHotplugFailsFast) {
  mgr_->SetRegistrationGrace(absl::Milliseconds(100));
  auto plan = mgr_->Scale(3);
  ASSERT_THAT(plan, IsOk());
  GuestTakesAndRegisters(2);
  EXPECT_EQ(StateOf(2), VcpuState::kEnabled);
  const absl::Time start = absl::Now();
  ScaleOutcome outcome = ScaleOutcome::kOk;
  EXPECT_THAT(mgr_->AwaitScale(plan->generation, ScaleWait::kOnline, absl::Now() + kWait, &outcome),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("never tried to start any hot-pluggable vCPU")));
  EXPECT_EQ(outcome, ScaleOutcome::kUnsupported);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // wait=ENABLED is satisfied by the registration report.
  EXPECT_THAT(mgr_->AwaitScale(plan->generation, ScaleWait::kEnabled, absl::Now()), IsOk());
}

// Linux >= 6.11 without an online rule: it tried to start the online-capable vCPUs at boot
// (refused), so a registered-but-offline vCPU means "no online rule": the caller's deadline
// applies and the message says so.
TEST_F(VcpuHotplugEvidenceTest, AGuestWithHotplugGetsTheDeadlineAndTheOnlineRuleHint) {
  mgr_->SetRegistrationGrace(absl::Milliseconds(100));
  ASSERT_EQ(GuestOnlines(3), psci::EncodeReturn(psci::Return::kDenied));  // boot-time CPU_ON
  auto plan = mgr_->Scale(3);
  ASSERT_THAT(plan, IsOk());
  GuestTakesAndRegisters(2);
  ScaleOutcome outcome = ScaleOutcome::kOk;
  EXPECT_THAT(mgr_->AwaitScale(plan->generation, ScaleWait::kOnline,
                               absl::Now() + absl::Milliseconds(400), &outcome),
              StatusIs(absl::StatusCode::kDeadlineExceeded,
                       HasSubstr("vCPU 2 is ENABLED (ENABLED: the guest registered the CPU but "
                                 "nothing onlined it")));
  EXPECT_EQ(outcome, ScaleOutcome::kDeadlineExceeded);
}

}  // namespace
}  // namespace vmmd::core
