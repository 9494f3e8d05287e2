// The shared fixture of the VcpuManager tests: 4 possible vCPUs, 2 boot, on the fake
// hypervisor, with an echo device on the bus and a recording event sink.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "core/vcpu/vcpu_manager.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/support/status_matchers.h"

namespace vmmd::core {

using ::vmmd::testing::FakeHypervisor;
using ::vmmd::testing::FakeMpidr;
using ::vmmd::testing::FakeVmRecord;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::ScriptedExit;

inline constexpr absl::Duration kWait = absl::Seconds(10);

// What a guest passes to CPU_ON: the affinity fields of the target's MPIDR (Linux's
// cpu_logical_map holds MPIDR & MPIDR_HWID_BITMASK; bit 31 is not an affinity bit).
inline uint64_t Affinity(uint32_t id) { return FakeMpidr(id) & psci::kMpidrAffinityMask; }

class RecordingSink : public VcpuEventSink {
 public:
  void OnGuestSystemEvent(uint32_t vcpu, const SystemEventExit& e) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(absl::StrFormat("system %u %d", vcpu, static_cast<int>(e.type)));
  }
  void OnVcpuFailed(uint32_t vcpu, const absl::Status& s) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(absl::StrFormat("failed %u %s", vcpu, s.ToString()));
  }
  bool WaitForEvents(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return events_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }
  void OnVcpuTransition(const VcpuTransition& t) override {
    absl::MutexLock lock(&mu_);
    transitions_.push_back(absl::StrFormat("%u %s->%s %s", t.vcpu, VcpuStateName(t.from),
                                           VcpuStateName(t.to), t.cause));
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  std::vector<std::string> transitions() {
    absl::MutexLock lock(&mu_);
    return transitions_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> transitions_ ABSL_GUARDED_BY(mu_);
};

class EchoDevice : public BusDevice {
 public:
  void Read(uint64_t offset, absl::Span<uint8_t> data) override { StoreLe(data, 0x1100 + offset); }
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override {
    absl::MutexLock lock(&mu_);
    writes_.emplace_back(offset, LoadLe(data));
  }
  std::vector<std::pair<uint64_t, uint64_t>> writes() {
    absl::MutexLock lock(&mu_);
    return writes_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::pair<uint64_t, uint64_t>> writes_ ABSL_GUARDED_BY(mu_);
};

// 4 possible vCPUs, 2 boot: the shape of the end-to-end "2 of 4" scenario.
class VcpuManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto vm = hv_.CreateVm({});
    ASSERT_THAT(vm, IsOk());
    vm_ = std::move(*vm);
    record_ = hv_.vms().back();
    std::vector<VcpuSetup> setups;
    for (uint32_t i = 0; i < 4; ++i) {
      auto v = vm_->CreateVcpu(i);
      ASSERT_THAT(v, IsOk());
      ASSERT_THAT((*v)->Init(VcpuFeatures{.power_off = i != 0}), IsOk());
      setups.push_back(VcpuSetup{std::move(*v), FakeMpidr(i), i < 2});
    }
    auto gic = vm_->CreateVgicV3();
    ASSERT_THAT(gic, IsOk());
    ASSERT_THAT((*gic)->SetDistributor(0x800'0000), IsOk());
    ASSERT_THAT((*gic)->AddRedistributorRegion(0, {0x80a'0000, 4}), IsOk());
    ASSERT_THAT((*gic)->Initialize(), IsOk());
    ASSERT_THAT(bus_.Insert(0x900'0000, 0x1000, device_, "echo"), IsOk());
    mgr_ = std::make_unique<VcpuManager>("t", std::move(setups), VcpuFeatures{}, &bus_, &sink_);
  }
  void TearDown() override { mgr_.reset(); }

  // Makes vCPU `caller` issue a PSCI call; returns the x0 the guest sees afterwards.
  uint64_t Call(uint32_t caller, uint32_t fn, uint64_t x1 = 0, uint64_t x2 = 0, uint64_t x3 = 0) {
    auto v = record_->vcpu(caller);
    // The caller's thread must be inside Run() (waiting for an exit) before we script one;
    // then run_count + 1 means "handled and back in the guest".
    EXPECT_TRUE(v->WaitForRunCount(1, kWait));
    const uint64_t runs = v->run_count();
    v->PushExit(ScriptedExit{HypercallExit{fn, false}, {{Reg::kX1, x1}, {Reg::kX2, x2}, {Reg::kX3, x3}}});
    EXPECT_TRUE(v->WaitForRunCount(runs + 1, kWait));
    return v->reg(Reg::kX0);
  }
  VcpuState StateOf(uint32_t id) { return mgr_->Snapshot()[id].state; }

  FakeHypervisor hv_;
  std::unique_ptr<VmHandle> vm_;
  std::shared_ptr<FakeVmRecord> record_;
  Bus bus_;
  std::shared_ptr<EchoDevice> device_ = std::make_shared<EchoDevice>();
  RecordingSink sink_;
  std::unique_ptr<VcpuManager> mgr_;
};

}  // namespace vmmd::core
