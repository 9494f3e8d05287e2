#include "tests/fakes/fake_hypervisor.h"

#include <fcntl.h>
#include <unistd.h>

#include <variant>

#include "absl/strings/str_format.h"

namespace vmmd::testing {

using core::MpState;
using core::Reg;

uint64_t FakeMpidr(uint32_t id) {
  return (1ULL << 31) | ((uint64_t{id} >> 12 & 0xff) << 16) | ((uint64_t{id} >> 4 & 0xff) << 8) |
         (id & 0xf);
}

void FaultInjector::FailNext(const std::string& op, absl::Status status) {
  absl::MutexLock lock(&mu_);
  failures_[op] = std::move(status);
}

absl::Status FaultInjector::Take(const std::string& op) {
  absl::MutexLock lock(&mu_);
  auto it = failures_.find(op);
  if (it == failures_.end()) return absl::OkStatus();
  absl::Status s = std::move(it->second);
  failures_.erase(it);
  return s;
}

// ---- FakeVcpuState ------------------------------------------------------------------------

void FakeVcpuState::PushExit(ScriptedExit exit) {
  absl::MutexLock lock(&mu_);
  exits_.push_back(std::move(exit));
}

bool FakeVcpuState::WaitForRunCount(uint64_t n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto reached = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return run_count_ >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

bool FakeVcpuState::WaitForMpState(MpState state, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto reached = [this, state]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return mp_state_ == state; };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

uint64_t FakeVcpuState::reg(Reg r) const {
  absl::MutexLock lock(&mu_);
  auto it = regs_.find(r);
  return it == regs_.end() ? 0 : it->second;
}
MpState FakeVcpuState::mp_state() const {
  absl::MutexLock lock(&mu_);
  return mp_state_;
}
int FakeVcpuState::init_count() const {
  absl::MutexLock lock(&mu_);
  return init_count_;
}
uint64_t FakeVcpuState::run_count() const {
  absl::MutexLock lock(&mu_);
  return run_count_;
}
bool FakeVcpuState::initialized_with_power_off() const {
  absl::MutexLock lock(&mu_);
  return first_init_power_off_;
}
std::vector<uint8_t> FakeVcpuState::last_mmio_read_data() const {
  absl::MutexLock lock(&mu_);
  return mmio_read_data_;
}

// ---- FakeVmRecord -------------------------------------------------------------------------

void FakeVmRecord::Log(std::string entry) {
  absl::MutexLock lock(&mu_);
  log_.push_back(std::move(entry));
}
std::vector<std::string> FakeVmRecord::log() const {
  absl::MutexLock lock(&mu_);
  return log_;
}
std::shared_ptr<FakeVcpuState> FakeVmRecord::vcpu(uint32_t id) const {
  absl::MutexLock lock(&mu_);
  return id < vcpus_.size() ? vcpus_[id] : nullptr;
}
size_t FakeVmRecord::vcpu_count() const {
  absl::MutexLock lock(&mu_);
  return vcpus_.size();
}
std::vector<std::string> FakeVmRecord::smccc_filters() const {
  absl::MutexLock lock(&mu_);
  return filters_;
}
uint64_t FakeVmRecord::TakeIrqFdSignals(uint32_t spi) const {
  std::shared_ptr<ScopedFd> fd;
  {
    absl::MutexLock lock(&mu_);
    auto it = irqfds_.find(spi);
    if (it == irqfds_.end()) return 0;
    fd = it->second;
  }
  uint64_t count = 0;
  if (::read(fd->get(), &count, sizeof(count)) != sizeof(count)) return 0;
  return count;
}

std::vector<uint32_t> FakeVmRecord::irqfd_spis() const {
  absl::MutexLock lock(&mu_);
  std::vector<uint32_t> out;
  for (const auto& [spi, fd] : irqfds_) out.push_back(spi);
  return out;
}

bool FakeVmRecord::GuestStoreToIoEvent(uint64_t gpa, uint32_t len, uint64_t value) const {
  absl::MutexLock lock(&mu_);
  for (const IoEvent& e : ioevents_) {
    if (e.gpa == gpa && e.len == len && e.value == value) {
      const uint64_t one = 1;
      return ::write(e.fd->get(), &one, sizeof(one)) == sizeof(one);
    }
  }
  return false;
}

size_t FakeVmRecord::ioeventfd_count() const {
  absl::MutexLock lock(&mu_);
  return ioevents_.size();
}

std::vector<std::pair<uint32_t, bool>> FakeVmRecord::spi_changes() const {
  absl::MutexLock lock(&mu_);
  return spi_changes_;
}
std::vector<FakeVmRecord::Region> FakeVmRecord::regions() const {
  absl::MutexLock lock(&mu_);
  return regions_;
}
bool FakeVmRecord::destroyed() const {
  absl::MutexLock lock(&mu_);
  return destroyed_;
}

// ---- FakeVcpu -----------------------------------------------------------------------------

class FakeVcpu : public core::VcpuHandle {
 public:
  FakeVcpu(std::shared_ptr<FakeVcpuState> state, std::shared_ptr<FakeVmRecord> vm)
      : state_(std::move(state)), vm_(std::move(vm)) {}

  uint32_t id() const override { return state_->id(); }

  absl::Status Init(const core::VcpuFeatures& f) override {
    vm_->Log(absl::StrFormat("Init %u power_off=%d pmu=%d", id(), f.power_off, f.pmu_v3));
    if (absl::Status s = vm_->TakeFailure("Init"); !s.ok()) return s;
    absl::MutexLock lock(&state_->mu_);
    if (state_->init_count_ == 0) state_->first_init_power_off_ = f.power_off;
    ++state_->init_count_;
    state_->regs_.clear();
    state_->regs_[Reg::kMpidrEl1] = FakeMpidr(id());
    state_->regs_[Reg::kPstate] = 0x3c5;  // EL1h, DAIF masked
    state_->mp_state_ = f.power_off ? MpState::kStopped : MpState::kRunnable;
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> GetReg(Reg reg) override {
    if (absl::Status s = vm_->TakeFailure("GetReg"); !s.ok()) return s;
    absl::MutexLock lock(&state_->mu_);
    if (state_->init_count_ == 0) return absl::FailedPreconditionError("vCPU not initialised");
    auto it = state_->regs_.find(reg);
    return it == state_->regs_.end() ? 0 : it->second;
  }

  absl::Status SetReg(Reg reg, uint64_t value) override {
    vm_->Log(absl::StrFormat("SetReg %u %u=0x%x", id(), static_cast<uint32_t>(reg), value));
    if (absl::Status s = vm_->TakeFailure("SetReg"); !s.ok()) return s;
    absl::MutexLock lock(&state_->mu_);
    if (state_->init_count_ == 0) return absl::FailedPreconditionError("vCPU not initialised");
    state_->regs_[reg] = value;
    return absl::OkStatus();
  }

  absl::StatusOr<core::MpState> GetMpState() override {
    absl::MutexLock lock(&state_->mu_);
    return state_->mp_state_;
  }

  absl::Status SetMpState(core::MpState mp) override {
    vm_->Log(absl::StrFormat("SetMpState %u %d", id(), static_cast<int>(mp)));
    if (absl::Status s = vm_->TakeFailure("SetMpState"); !s.ok()) return s;
    absl::MutexLock lock(&state_->mu_);
    state_->mp_state_ = mp;
    return absl::OkStatus();
  }

  absl::Status SetTimerPpis(uint32_t vtimer, uint32_t ptimer) override {
    vm_->Log(absl::StrFormat("SetTimerPpis %u %u %u", id(), vtimer, ptimer));
    absl::MutexLock lock(&vm_->mu_);
    if (vm_->any_vcpu_ran_) return absl::UnavailableError("timer PPIs after first run (EBUSY)");
    return absl::OkStatus();
  }

  absl::Status InitPmu(uint32_t ppi) override {
    vm_->Log(absl::StrFormat("InitPmu %u %u", id(), ppi));
    absl::MutexLock lock(&vm_->mu_);
    if (!vm_->vgic_initialized_) return absl::FailedPreconditionError("PMU init before vGIC init");
    return absl::OkStatus();
  }

  absl::StatusOr<core::VcpuExit> Run() override {
    {
      absl::MutexLock lock(&vm_->mu_);
      vm_->any_vcpu_ran_ = true;
      if (!vm_->vgic_initialized_) return absl::FailedPreconditionError("run before vGIC init");
    }
    if (absl::Status s = vm_->TakeFailure("Run"); !s.ok()) return s;
    absl::MutexLock lock(&state_->mu_);
    if (state_->init_count_ == 0) return absl::FailedPreconditionError("run before init (ENOEXEC)");
    ++state_->run_count_;
    auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(state_->mu_) {
      return state_->kicked_ || !state_->exits_.empty();
    };
    state_->mu_.Await(absl::Condition(&ready));
    if (state_->kicked_) {
      state_->kicked_ = false;
      return core::VcpuExit{core::InterruptedExit{}};
    }
    ScriptedExit next = std::move(state_->exits_.front());
    state_->exits_.pop_front();
    for (const auto& [r, v] : next.regs) state_->regs_[r] = v;
    return next.exit;
  }

  void SetMmioReadData(absl::Span<const uint8_t> data) override {
    absl::MutexLock lock(&state_->mu_);
    state_->mmio_read_data_.assign(data.begin(), data.end());
  }

  void Kick() override {
    absl::MutexLock lock(&state_->mu_);
    state_->kicked_ = true;
  }

 private:
  std::shared_ptr<FakeVcpuState> state_;
  std::shared_ptr<FakeVmRecord> vm_;
};

// ---- FakeVgic -----------------------------------------------------------------------------

class FakeVgic : public core::VgicHandle {
 public:
  explicit FakeVgic(std::shared_ptr<FakeVmRecord> vm) : vm_(std::move(vm)) {}
  absl::Status SetNrIrqs(uint32_t n) override {
    vm_->Log(absl::StrFormat("Vgic.SetNrIrqs %u", n));
    if (n < 64 || n > 1024 || n % 32 != 0) return absl::InvalidArgumentError("bad NR_IRQS");
    return absl::OkStatus();
  }
  absl::Status SetDistributor(uint64_t base) override {
    vm_->Log(absl::StrFormat("Vgic.SetDistributor 0x%x", base));
    dist_set_ = true;
    return absl::OkStatus();
  }
  absl::Status AddRedistributorRegion(uint32_t index, const core::RedistributorRegion& r) override {
    vm_->Log(absl::StrFormat("Vgic.AddRedistributorRegion %u 0x%x %u", index, r.base, r.count));
    if (index != next_index_) return absl::InvalidArgumentError("regions out of order");
    ++next_index_;
    redist_count_ += r.count;
    return absl::OkStatus();
  }
  absl::Status Initialize() override {
    vm_->Log("Vgic.Initialize");
    if (absl::Status s = vm_->TakeFailure("Vgic.Initialize"); !s.ok()) return s;
    absl::MutexLock lock(&vm_->mu_);
    if (!dist_set_ || redist_count_ < vm_->vcpus_.size()) {
      return absl::FailedPreconditionError("vGIC init without enough redistributors (ENXIO)");
    }
    vm_->vgic_initialized_ = true;
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<FakeVmRecord> vm_;
  bool dist_set_ = false;
  uint32_t next_index_ = 0;
  uint64_t redist_count_ = 0;
};

// ---- FakeVm -------------------------------------------------------------------------------

class FakeVm : public core::VmHandle {
 public:
  explicit FakeVm(std::shared_ptr<FakeVmRecord> vm) : vm_(std::move(vm)) {}
  ~FakeVm() override {
    absl::MutexLock lock(&vm_->mu_);
    vm_->destroyed_ = true;
  }

  absl::StatusOr<std::unique_ptr<core::VcpuHandle>> CreateVcpu(uint32_t id) override {
    vm_->Log(absl::StrFormat("CreateVcpu %u", id));
    if (absl::Status s = vm_->TakeFailure("CreateVcpu"); !s.ok()) return s;
    absl::MutexLock lock(&vm_->mu_);
    if (vm_->vgic_initialized_) return absl::UnavailableError("KVM_CREATE_VCPU after vGIC init (EBUSY)");
    if (id >= vm_->max_vcpus_) return absl::InvalidArgumentError("vCPU id beyond max_vcpus (EINVAL)");
    if (id != vm_->vcpus_.size()) return absl::InvalidArgumentError("vCPU ids out of order");
    auto state = std::make_shared<FakeVcpuState>(id, vm_.get());
    vm_->vcpus_.push_back(state);
    return std::unique_ptr<core::VcpuHandle>(new FakeVcpu(state, vm_));
  }

  absl::Status MapMemory(uint32_t slot, uint64_t gpa, uint64_t size, void* host,
                         bool read_only) override {
    vm_->Log(absl::StrFormat("MapMemory %u 0x%x 0x%x ro=%d", slot, gpa, size, read_only));
    if (absl::Status s = vm_->TakeFailure("MapMemory"); !s.ok()) return s;
    absl::MutexLock lock(&vm_->mu_);
    vm_->regions_.push_back({slot, gpa, size, host, read_only});
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<core::VgicHandle>> CreateVgicV3() override {
    vm_->Log("CreateVgicV3");
    if (absl::Status s = vm_->TakeFailure("CreateVgicV3"); !s.ok()) return s;
    return std::unique_ptr<core::VgicHandle>(new FakeVgic(vm_));
  }

  absl::Status SetSmcccFilter(uint32_t base, uint32_t count, core::SmcccAction action) override {
    vm_->Log(absl::StrFormat("SetSmcccFilter 0x%x %u %d", base, count, static_cast<int>(action)));
    if (absl::Status s = vm_->TakeFailure("SetSmcccFilter"); !s.ok()) return s;
    absl::MutexLock lock(&vm_->mu_);
    if (vm_->any_vcpu_ran_) return absl::UnavailableError("SMCCC filter after first run (EBUSY)");
    vm_->filters_.push_back(absl::StrFormat("0x%x+%u:%d", base, count, static_cast<int>(action)));
    return absl::OkStatus();
  }

  absl::Status SetSpiLevel(uint32_t spi, bool level) override {
    absl::MutexLock lock(&vm_->mu_);
    vm_->spi_changes_.emplace_back(spi, level);
    return absl::OkStatus();
  }

  absl::Status AttachIrqFd(uint32_t spi, int fd) override {
    vm_->Log(absl::StrFormat("AttachIrqFd %u", spi));
    if (absl::Status s = vm_->TakeFailure("AttachIrqFd"); !s.ok()) return s;
    const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) return absl::InvalidArgumentError("KVM_IRQFD: not a file descriptor (EBADF)");
    absl::MutexLock lock(&vm_->mu_);
    if (vm_->irqfds_.count(spi) != 0) {
      ::close(copy);
      return absl::AlreadyExistsError(absl::StrFormat("KVM_IRQFD: SPI %u has one (EBUSY)", spi));
    }
    vm_->irqfds_[spi] = std::make_shared<ScopedFd>(copy);
    return absl::OkStatus();
  }

  absl::Status AttachIoEventFd(uint64_t gpa, uint32_t len, uint64_t value, int fd) override {
    vm_->Log(absl::StrFormat("AttachIoEventFd 0x%x/%u=%u", gpa, len, value));
    if (absl::Status s = vm_->TakeFailure("AttachIoEventFd"); !s.ok()) return s;
    if (len != 4 && len != 8) return absl::InvalidArgumentError("KVM_IOEVENTFD: length (EINVAL)");
    const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) return absl::InvalidArgumentError("KVM_IOEVENTFD: not a file descriptor (EBADF)");
    absl::MutexLock lock(&vm_->mu_);
    for (const FakeVmRecord::IoEvent& e : vm_->ioevents_) {
      if (e.gpa == gpa && e.len == len && e.value == value) {
        ::close(copy);
        return absl::AlreadyExistsError("KVM_IOEVENTFD: already assigned (EEXIST)");
      }
    }
    vm_->ioevents_.push_back({gpa, len, value, std::make_shared<ScopedFd>(copy)});
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<FakeVmRecord> vm_;
};

// ---- FakeHypervisor -----------------------------------------------------------------------

core::HostCapabilities FakeHypervisor::DefaultCapabilities() {
  core::HostCapabilities caps;
  caps.max_vcpus = 512;
  caps.max_ipa_bits = 48;
  caps.pmu_v3 = true;
  caps.smccc_filter = true;
  return caps;
}

FakeHypervisor::FakeHypervisor(core::HostCapabilities caps) : caps_(caps) {}

absl::StatusOr<std::unique_ptr<core::VmHandle>> FakeHypervisor::CreateVm(
    const core::VmHandleConfig& config) {
  if (absl::Status s = faults_->Take("CreateVm"); !s.ok()) return s;
  auto record = std::make_shared<FakeVmRecord>();
  record->max_vcpus_ = caps_.max_vcpus;
  record->faults_ = faults_;
  record->Log(absl::StrFormat("CreateVm ipa=%u", config.ipa_bits));
  {
    absl::MutexLock lock(&mu_);
    vms_.push_back(record);
  }
  return std::unique_ptr<core::VmHandle>(new FakeVm(record));
}

std::vector<std::shared_ptr<FakeVmRecord>> FakeHypervisor::vms() const {
  absl::MutexLock lock(&mu_);
  return vms_;
}

void FakeHypervisor::FailNext(const std::string& op, absl::Status status) {
  faults_->FailNext(op, std::move(status));
}

}  // namespace vmmd::testing
