#include "core/vcpu/vcpu_manager.h"

#include <vector>

#include "core/common/log.h"
#include "core/common/thread.h"
#include "core/vcpu/vcpu_manager_fixture.h"
#include "gtest/gtest.h"

namespace vmmd::core {
namespace {

TEST_F(VcpuManagerTest, InitialStatesAndBootVcpu) {
  auto snap = mgr_->Snapshot();
  ASSERT_EQ(snap.size(), 4u);
  EXPECT_EQ(snap[0].state, VcpuState::kOffline);
  EXPECT_EQ(snap[1].state, VcpuState::kOffline);
  EXPECT_EQ(snap[2].state, VcpuState::kParked);
  EXPECT_EQ(snap[3].state, VcpuState::kParked);
  EXPECT_TRUE(snap[1].acpi_enabled);
  EXPECT_FALSE(snap[2].acpi_enabled);
  EXPECT_EQ(snap[3].mpidr, FakeMpidr(3));

  ASSERT_THAT(mgr_->StartBootVcpu(0x4020'0000, 0x4800'0000), IsOk());
  auto v0 = record_->vcpu(0);
  ASSERT_TRUE(v0->WaitForRunCount(1, kWait));
  EXPECT_EQ(v0->reg(Reg::kPc), 0x4020'0000u);
  EXPECT_EQ(v0->reg(Reg::kX0), 0x4800'0000u);
  EXPECT_EQ(v0->mp_state(), MpState::kRunnable);
  snap = mgr_->Snapshot();
  EXPECT_EQ(snap[0].state, VcpuState::kOnline);
  EXPECT_EQ(snap[0].power, PsciPower::kOn);
  EXPECT_GT(snap[0].thread_id, 0);
  EXPECT_EQ(snap[2].thread_id, 0);  // parked: no thread
  EXPECT_EQ(mgr_->OnlineCount(), 1u);
}

TEST_F(VcpuManagerTest, CpuOnWithoutAHostThreadIsInternalFailureAndTheVcpuStaysOff) {
  ASSERT_THAT(mgr_->StartBootVcpu(0x4020'0000, 0), IsOk());
  ScopedLogCapture log;
  {
    ScopedThreadStartFailures no_threads(1);
    EXPECT_EQ(Call(0, psci::kFnCpuOn64, Affinity(1), 0x4030'0000, 0),
              psci::EncodeReturn(psci::Return::kInternalFailure));
  }
  auto snap = mgr_->Snapshot();
  EXPECT_EQ(snap[1].state, VcpuState::kOffline);
  EXPECT_EQ(snap[1].power, PsciPower::kOff);
  EXPECT_EQ(snap[1].thread_id, 0);
  EXPECT_EQ(record_->vcpu(1)->mp_state(), MpState::kStopped);  // KVM agrees: off
  EXPECT_EQ(record_->vcpu(1)->run_count(), 0u);
  EXPECT_EQ(mgr_->Stats().cpu_on.internal_failure, 1u);
  EXPECT_EQ(StateOf(0), VcpuState::kOnline);  // the caller (and the VM) run on
  EXPECT_THAT(log.lines(),
              ::testing::Contains(
                  "E t: CPU_ON of MPIDR 0x1 failed (1 so far): RESOURCE_EXHAUSTED: cannot create "
                  "a thread: vCPU 1 of t: Resource temporarily unavailable; answered "
                  "INTERNAL_FAILURE"));
  // The host has threads again: the guest's retry succeeds.
  EXPECT_EQ(Call(0, psci::kFnCpuOn64, Affinity(1), 0x4030'0000, 0), 0u);
  ASSERT_TRUE(record_->vcpu(1)->WaitForRunCount(1, kWait));
  EXPECT_EQ(StateOf(1), VcpuState::kOnline);
}

TEST_F(VcpuManagerTest, BootVcpuWithoutAHostThreadIsResourceExhausted) {
  ScopedThreadStartFailures no_threads(1);
  EXPECT_THAT(mgr_->StartBootVcpu(0x4020'0000, 0),
              ::vmmd::testing::StatusIs(absl::StatusCode::kResourceExhausted,
                                        ::testing::HasSubstr("cannot create a thread")));
  EXPECT_EQ(StateOf(0), VcpuState::kOffline);
}

TEST_F(VcpuManagerTest, PsciCpuOnPolicy) {
  ASSERT_THAT(mgr_->StartBootVcpu(0x4020'0000, 0), IsOk());
  // Boot secondary: SUCCESS, re-initialised with entry and context id, its thread runs.
  EXPECT_EQ(Call(0, psci::kFnCpuOn64, Affinity(1), 0x4030'0000, 0xc0ffee), 0u);
  auto v1 = record_->vcpu(1);
  ASSERT_TRUE(v1->WaitForRunCount(1, kWait));
  EXPECT_EQ(v1->init_count(), 2);
  EXPECT_EQ(v1->reg(Reg::kPc), 0x4030'0000u);
  EXPECT_EQ(v1->reg(Reg::kX0), 0xc0ffeeu);
  EXPECT_EQ(StateOf(1), VcpuState::kOnline);
  // Again: ALREADY_ON. A parked vCPU: DENIED, and it is left untouched.
  EXPECT_EQ(Call(0, psci::kFnCpuOn64, Affinity(1), 0x4030'0000, 0),
            psci::EncodeReturn(psci::Return::kAlreadyOn));
  EXPECT_EQ(Call(1, psci::kFnCpuOn32, Affinity(2), 0x4030'0000, 0),
            psci::EncodeReturn(psci::Return::kDenied));
  EXPECT_EQ(record_->vcpu(2)->init_count(), 1);
  EXPECT_EQ(record_->vcpu(2)->run_count(), 0u);
  EXPECT_EQ(StateOf(2), VcpuState::kParked);
  // Unknown MPIDR and non-affinity bits: INVALID_PARAMS.
  EXPECT_EQ(Call(0, psci::kFnCpuOn64, Affinity(9), 0, 0),
            psci::EncodeReturn(psci::Return::kInvalidParams));
  EXPECT_EQ(Call(0, psci::kFnCpuOn64, Affinity(1) | (1ULL << 31), 0, 0),
            psci::EncodeReturn(psci::Return::kInvalidParams));
  // Another SMCCC id that reached userspace: NOT_SUPPORTED.
  EXPECT_EQ(Call(0, 0x8400'0000), psci::EncodeReturn(psci::Return::kNotSupported));
  EXPECT_EQ(mgr_->Snapshot()[0].hypercall_exits, 5u);  // one of the six came from vCPU 1
  EXPECT_EQ(mgr_->Snapshot()[1].hypercall_exits, 1u);
  // Every verdict was counted once.
  const CpuOnCounts counts = mgr_->Stats().cpu_on;
  EXPECT_EQ(counts.granted, 1u);
  EXPECT_EQ(counts.already_on, 1u);
  EXPECT_EQ(counts.denied, 1u);
  EXPECT_EQ(counts.invalid_params, 2u);
  EXPECT_EQ(counts.internal_failure, 0u);
}

// A vCPU's CPU time adds up every thread it had: it never goes backwards across CPU_OFF and
// CPU_ON, and a vCPU that never ran has none.
TEST_F(VcpuManagerTest, CpuTimeSurvivesCpuOffAndCpuOn) {
  ASSERT_THAT(mgr_->StartBootVcpu(0x4020'0000, 0), IsOk());
  ASSERT_EQ(Call(0, psci::kFnCpuOn64, Affinity(1), 0x4030'0000, 1), 0u);
  auto v1 = record_->vcpu(1);
  ASSERT_TRUE(v1->WaitForRunCount(1, kWait));
  uint64_t last = 0;
  auto busy = [&] {
    const uint64_t b = mgr_->Snapshot()[1].busy_ns;
    EXPECT_GE(b, last);
    last = b;
    return b;
  };
  EXPECT_GT(busy(), 0u);  // the thread ran (its start-up, the wait for an exit)
  v1->PushExit(ScriptedExit{HypercallExit{psci::kFnCpuOff, false}, {}});
  ASSERT_TRUE(v1->WaitForMpState(MpState::kStopped, kWait));
  const uint64_t after_off = busy();
  EXPECT_EQ(busy(), after_off);  // no thread: nothing more accrues
  ASSERT_EQ(Call(0, psci::kFnCpuOn64, Affinity(1), 0x4040'0000, 2), 0u);
  ASSERT_TRUE(v1->WaitForRunCount(2, kWait));
  EXPECT_GE(busy(), after_off);
  for (int i = 0; i < 5; ++i) busy();  // read repeatedly while the thread runs
  EXPECT_EQ(mgr_->Snapshot()[3].busy_ns, 0u);
  EXPECT_EQ(mgr_->Snapshot()[3].delay_ns, 0u);
  mgr_->StopAll();
  EXPECT_GE(busy(), after_off);
}

TEST_F(VcpuManagerTest, CpuOffStopsTheThreadAndCpuOnRestartsIt) {
  ASSERT_THAT(mgr_->StartBootVcpu(0x4020'0000, 0), IsOk());
  ASSERT_EQ(Call(0, psci::kFnCpuOn64, Affinity(1), 0x4030'0000, 1), 0u);
  auto v1 = record_->vcpu(1);
  ASSERT_TRUE(v1->WaitForRunCount(1, kWait));
  v1->PushExit(ScriptedExit{HypercallExit{psci::kFnCpuOff, false}, {}});
  ASSERT_TRUE(v1->WaitForMpState(MpState::kStopped, kWait));
  // The thread ends without entering the guest again.
  for (int i = 0; i < 100 && mgr_->Snapshot()[1].thread_id != 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  auto snap = mgr_->Snapshot();
  EXPECT_EQ(snap[1].state, VcpuState::kOffline);
  EXPECT_EQ(snap[1].power, PsciPower::kOff);
  EXPECT_EQ(snap[1].thread_id, 0);
  EXPECT_EQ(v1->run_count(), 1u);  // never re-entered the guest after CPU_OFF
  // And it can be brought back.
  EXPECT_EQ(Call(0, psci::kFnCpuOn64, Affinity(1), 0x4040'0000, 2), 0u);
  ASSERT_TRUE(v1->WaitForRunCount(2, kWait));
  EXPECT_EQ(v1->reg(Reg::kPc), 0x4040'0000u);
  EXPECT_EQ(v1->init_count(), 3);
  EXPECT_EQ(StateOf(1), VcpuState::kOnline);
}

TEST_F(VcpuManagerTest, MmioGoesToTheBus) {
  ASSERT_THAT(mgr_->StartBootVcpu(0x4020'0000, 0), IsOk());
  auto v0 = record_->vcpu(0);
  MmioExit read{0x900'0010, 4, false, {}};
  MmioExit write{0x900'0020, 2, true, {0x34, 0x12}};
  MmioExit unmapped{0x1234'0000, 8, false, {}};
  v0->PushExit({read, {}});
  ASSERT_TRUE(v0->WaitForRunCount(2, kWait));
  EXPECT_EQ(v0->last_mmio_read_data(), (std::vector<uint8_t>{0x10, 0x11, 0, 0}));
  v0->PushExit({write, {}});
  v0->PushExit({unmapped, {}});
  ASSERT_TRUE(v0->WaitForRunCount(4, kWait));
  EXPECT_EQ(device_->writes(), (std::vector<std::pair<uint64_t, uint64_t>>{{0x20, 0x1234}}));
  EXPECT_EQ(v0->last_mmio_read_data(), std::vector<uint8_t>(8, 0));
  EXPECT_EQ(bus_.unmapped_accesses(), 1u);
  EXPECT_EQ(mgr_->Snapshot()[0].mmio_exits, 3u);
}

TEST_F(VcpuManagerTest, SystemEventsAndFailuresReachTheSink) {
  ASSERT_THAT(mgr_->StartBootVcpu(0x4020'0000, 0), IsOk());
  ASSERT_EQ(Call(0, psci::kFnCpuOn64, Affinity(1), 0x4030'0000, 1), 0u);
  record_->vcpu(1)->PushExit({SystemEventExit{SystemEventExit::Type::kShutdown, 1}, {}});
  ASSERT_TRUE(sink_.WaitForEvents(1));
  hv_.FailNext("Run", absl::InternalError("KVM_RUN: Bad address"));
  record_->vcpu(0)->PushExit({MmioExit{0x900'0000, 4, false, {}}, {}});
  ASSERT_TRUE(sink_.WaitForEvents(2));
  EXPECT_EQ(sink_.events(), (std::vector<std::string>{
                                "system 1 0", "failed 0 INTERNAL: KVM_RUN: Bad address"}));
}

TEST_F(VcpuManagerTest, StopAllJoinsRunningThreadsAndDeniesLaterCpuOn) {
  ASSERT_THAT(mgr_->StartBootVcpu(0x4020'0000, 0), IsOk());
  ASSERT_EQ(Call(0, psci::kFnCpuOn64, Affinity(1), 0x4030'0000, 1), 0u);
  ASSERT_TRUE(record_->vcpu(1)->WaitForRunCount(1, kWait));
  mgr_->StopAll();
  auto snap = mgr_->Snapshot();
  EXPECT_EQ(snap[0].thread_id, 0);
  EXPECT_EQ(snap[1].thread_id, 0);
  EXPECT_EQ(mgr_->CpuOn(0, psci::CpuOnArgs{Affinity(1), 0, 0}),
            psci::Return::kAlreadyOn);  // still marked on: the VM is gone, not the CPU
  mgr_->StopAll();  // idempotent
}

TEST_F(VcpuManagerTest, FailedReinitIsAnInternalFailureNotACrash) {
  ASSERT_THAT(mgr_->StartBootVcpu(0x4020'0000, 0), IsOk());
  hv_.FailNext("Init", absl::InternalError("KVM_ARM_VCPU_INIT: Invalid argument"));
  EXPECT_EQ(Call(0, psci::kFnCpuOn64, Affinity(1), 0x4030'0000, 1),
            psci::EncodeReturn(psci::Return::kInternalFailure));
  EXPECT_EQ(StateOf(1), VcpuState::kOffline);
  EXPECT_EQ(record_->vcpu(1)->run_count(), 0u);
}

}  // namespace
}  // namespace vmmd::core
