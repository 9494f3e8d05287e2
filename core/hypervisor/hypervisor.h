// The hypervisor seam: Hypervisor → VmHandle → VcpuHandle (+ the vGIC). The KVM arm64 backend
// (core/kvm/) is the only code that issues KVM ioctls; tests use tests/fakes/fake_hypervisor.
// Every method reports failures as absl::Status; nothing here aborts.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/hypervisor/vcpu_exit.h"

namespace vmmd::core {

// Registers the VMM reads or writes. X(n) for n in [0, 30].
enum class Reg : uint32_t {
  kX0 = 0,
  kX1 = 1,
  kX2 = 2,
  kX3 = 3,
  kSp = 31,
  kPc = 32,
  kPstate = 33,
  kMpidrEl1 = 64,
};
inline Reg XReg(uint32_t n) { return static_cast<Reg>(n); }

enum class MpState { kRunnable, kStopped, kSuspended };

struct VcpuFeatures {
  bool power_off = false;  // start in KVM's powered-off state (mp_state STOPPED)
  bool pmu_v3 = false;
};

// What the host can do, probed once.
struct HostCapabilities {
  uint32_t max_vcpus = 0;   // per VM
  uint32_t max_ipa_bits = 0;
  bool pmu_v3 = false;
  bool smccc_filter = false;  // KVM_ARM_VM_SMCCC_FILTER (Linux >= 6.4)
  // KVM traps a guest's WFI (its default), so an idle vCPU's thread sleeps in the host and its
  // busy time is the time the guest really computed. False when the host kernel was booted
  // with kvm-arm.wfi_trap_policy=notrap: an idle vCPU then waits inside the guest and counts
  // as busy.
  bool wfi_trapped = true;
};

enum class SmcccAction { kHandleInKernel, kDeny, kForwardToUser };

class VcpuHandle {
 public:
  virtual ~VcpuHandle() = default;

  virtual uint32_t id() const = 0;
  // (Re-)initialises the vCPU to its reset state (EL1h, DAIF masked, MMU off). Every call for a
  // vCPU must use the same features (power_off excepted).
  virtual absl::Status Init(const VcpuFeatures& features) = 0;
  virtual absl::StatusOr<uint64_t> GetReg(Reg reg) = 0;
  virtual absl::Status SetReg(Reg reg, uint64_t value) = 0;
  virtual absl::StatusOr<MpState> GetMpState() = 0;
  virtual absl::Status SetMpState(MpState state) = 0;
  // Arch timer PPIs (INTIDs 16..31). Before the first run of any vCPU.
  virtual absl::Status SetTimerPpis(uint32_t vtimer, uint32_t ptimer) = 0;
  // PMUv3 overflow PPI + PMU init. After the vGIC is initialised.
  virtual absl::Status InitPmu(uint32_t ppi) = 0;

  // Enters the guest until the next exit. Called only from the one thread driving this vCPU.
  virtual absl::StatusOr<VcpuExit> Run() = 0;
  // Data for the MMIO read that the last Run() reported (len bytes, little-endian).
  virtual void SetMmioReadData(absl::Span<const uint8_t> data) = 0;
  // Makes a current or the next Run() return InterruptedExit soon. Thread-safe.
  virtual void Kick() = 0;
};

struct RedistributorRegion {
  uint64_t base = 0;
  uint32_t count = 0;  // redistributors (vCPUs) in this region, 128 KiB each
};

// The in-kernel GICv3. Sequence: SetNrIrqs, SetDistributor, AddRedistributorRegion (in index
// order), then Initialize — after every vCPU exists.
class VgicHandle {
 public:
  virtual ~VgicHandle() = default;
  virtual absl::Status SetNrIrqs(uint32_t nr_irqs) = 0;
  virtual absl::Status SetDistributor(uint64_t base) = 0;
  virtual absl::Status AddRedistributorRegion(uint32_t index, const RedistributorRegion& region) = 0;
  virtual absl::Status Initialize() = 0;
};

class VmHandle {
 public:
  virtual ~VmHandle() = default;

  virtual absl::StatusOr<std::unique_ptr<VcpuHandle>> CreateVcpu(uint32_t id) = 0;
  // Maps [host, host+size) at guest physical `gpa`. The memory must outlive the VM handle.
  virtual absl::Status MapMemory(uint32_t slot, uint64_t gpa, uint64_t size, void* host,
                                 bool read_only) = 0;
  virtual absl::StatusOr<std::unique_ptr<VgicHandle>> CreateVgicV3() = 0;
  // Routes SMCCC function ids [base, base+count) as `action`. Before any vCPU runs.
  virtual absl::Status SetSmcccFilter(uint32_t base, uint32_t count, SmcccAction action) = 0;
  // Drives a shared peripheral interrupt (SPI number, INTID = 32 + spi) to `level`.
  virtual absl::Status SetSpiLevel(uint32_t spi, bool level) = 0;
  // Each signal of the eventfd `fd` gives SPI `spi` an edge in the kernel (KVM_IRQFD), without
  // a system call on the VM: devices that run on an I/O thread interrupt the guest this way.
  // The VM keeps its own reference to the eventfd.
  virtual absl::Status AttachIrqFd(uint32_t spi, int fd) = 0;
  // A guest store of exactly `len` bytes (4 or 8) of `value` at `gpa` signals the eventfd `fd`
  // and completes in the kernel, without an exit to vmmd (KVM_IOEVENTFD with a data match):
  // virtqueue notifications. Any other store there still exits as MMIO.
  virtual absl::Status AttachIoEventFd(uint64_t gpa, uint32_t len, uint64_t value, int fd) = 0;
};

struct VmHandleConfig {
  uint32_t ipa_bits = 40;
};

class Hypervisor {
 public:
  virtual ~Hypervisor() = default;
  virtual const HostCapabilities& capabilities() const = 0;
  virtual absl::StatusOr<std::unique_ptr<VmHandle>> CreateVm(const VmHandleConfig& config) = 0;
};

}  // namespace vmmd::core
