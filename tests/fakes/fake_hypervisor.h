// An in-process hypervisor for tests: records every call in order, enforces the KVM rules the
// VMM must respect (no vCPU after vGIC init, SMCCC filter before the first run, ...), replays
// scripted exits and can fail a chosen call (fault injection, LevelDB-Env style).
// Tests keep shared_ptrs to the records, so they can inspect a VM after the code under test
// destroyed its handles.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/common/scoped_fd.h"
#include "core/hypervisor/hypervisor.h"

namespace vmmd::testing {

// What KVM would give vCPU `id` as MPIDR_EL1.
uint64_t FakeMpidr(uint32_t id);

struct ScriptedExit {
  core::VcpuExit exit;
  std::vector<std::pair<core::Reg, uint64_t>> regs;  // set just before the exit is reported
};

// Pending injected failures, shared by a hypervisor and everything it created.
class FaultInjector {
 public:
  void FailNext(const std::string& op, absl::Status status);
  // The pending failure for `op` (consumed), or OK.
  absl::Status Take(const std::string& op);

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, absl::Status> failures_ ABSL_GUARDED_BY(mu_);
};

class FakeVmRecord;

class FakeVcpuState {
 public:
  FakeVcpuState(uint32_t id, FakeVmRecord* vm) : id_(id), vm_(vm) {}

  uint32_t id() const { return id_; }
  void PushExit(ScriptedExit exit);
  // Blocks until Run() has been entered `n` times in total (so the handling of the exit
  // returned by the (n-1)-th run is complete). False on timeout.
  bool WaitForRunCount(uint64_t n, absl::Duration timeout);
  bool WaitForMpState(core::MpState state, absl::Duration timeout);

  uint64_t reg(core::Reg r) const;
  core::MpState mp_state() const;
  int init_count() const;
  uint64_t run_count() const;
  bool initialized_with_power_off() const;  // the first Init had power_off
  std::vector<uint8_t> last_mmio_read_data() const;

 private:
  friend class FakeVcpu;
  const uint32_t id_;
  FakeVmRecord* const vm_;
  mutable absl::Mutex mu_;
  std::deque<ScriptedExit> exits_ ABSL_GUARDED_BY(mu_);
  bool kicked_ ABSL_GUARDED_BY(mu_) = false;
  std::map<core::Reg, uint64_t> regs_ ABSL_GUARDED_BY(mu_);
  core::MpState mp_state_ ABSL_GUARDED_BY(mu_) = core::MpState::kRunnable;
  int init_count_ ABSL_GUARDED_BY(mu_) = 0;
  bool first_init_power_off_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t run_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint8_t> mmio_read_data_ ABSL_GUARDED_BY(mu_);
};

// Everything one fake VM saw. Thread-safe.
class FakeVmRecord {
 public:
  std::vector<std::string> log() const;  // "CreateVcpu 0", "Vgic.Initialize", "Run 0", ...
  std::shared_ptr<FakeVcpuState> vcpu(uint32_t id) const;
  size_t vcpu_count() const;
  std::vector<std::string> smccc_filters() const;  // "base+count:action"
  std::vector<std::pair<uint32_t, bool>> spi_changes() const;
  // KVM_IRQFD: the signals of SPI `spi`'s eventfd since the last call (consumes them); 0 when
  // none is attached.
  uint64_t TakeIrqFdSignals(uint32_t spi) const;
  std::vector<uint32_t> irqfd_spis() const;
  // KVM_IOEVENTFD: does what KVM does for a guest store of `value` (`len` bytes) at `gpa`:
  // signals the matching eventfd. False when none matches (the store would exit as MMIO).
  bool GuestStoreToIoEvent(uint64_t gpa, uint32_t len, uint64_t value) const;
  size_t ioeventfd_count() const;
  struct Region {
    uint32_t slot;
    uint64_t gpa;
    uint64_t size;
    void* host;
    bool read_only;
  };
  std::vector<Region> regions() const;
  bool destroyed() const;

 private:
  friend class FakeVm;
  friend class FakeVcpu;
  friend class FakeVgic;
  friend class FakeHypervisor;
  void Log(std::string entry);
  absl::Status TakeFailure(const std::string& op) { return faults_->Take(op); }

  mutable absl::Mutex mu_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<FakeVcpuState>> vcpus_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> filters_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<uint32_t, bool>> spi_changes_ ABSL_GUARDED_BY(mu_);
  struct IoEvent {
    uint64_t gpa;
    uint32_t len;
    uint64_t value;
    std::shared_ptr<ScopedFd> fd;  // a duplicate, as KVM holds its own reference
  };
  std::map<uint32_t, std::shared_ptr<ScopedFd>> irqfds_ ABSL_GUARDED_BY(mu_);
  std::vector<IoEvent> ioevents_ ABSL_GUARDED_BY(mu_);
  std::vector<Region> regions_ ABSL_GUARDED_BY(mu_);
  bool vgic_initialized_ ABSL_GUARDED_BY(mu_) = false;
  bool any_vcpu_ran_ ABSL_GUARDED_BY(mu_) = false;
  bool destroyed_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t max_vcpus_ = 0;
  std::shared_ptr<FaultInjector> faults_;
};

class FakeHypervisor : public core::Hypervisor {
 public:
  static core::HostCapabilities DefaultCapabilities();
  explicit FakeHypervisor(core::HostCapabilities caps = DefaultCapabilities());

  const core::HostCapabilities& capabilities() const override { return caps_; }
  absl::StatusOr<std::unique_ptr<core::VmHandle>> CreateVm(
      const core::VmHandleConfig& config) override;

  // Every VM created so far, oldest first.
  std::vector<std::shared_ptr<FakeVmRecord>> vms() const;
  // The next call named `op` ("CreateVm", "CreateVcpu", "Init", "SetReg", "Run",
  // "SetSmcccFilter", "Vgic.Initialize", "MapMemory", ...) on any object fails with `status`.
  void FailNext(const std::string& op, absl::Status status);

 private:
  core::HostCapabilities caps_;
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<FakeVmRecord>> vms_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<FaultInjector> faults_ = std::make_shared<FaultInjector>();
};

}  // namespace vmmd::testing
