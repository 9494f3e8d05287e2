#include "vmmd/vmm/machine.h"

#include <utility>

#include "core/arch/aarch64/layout.h"
#include "core/common/log.h"
#include "core/common/status_macros.h"
#include "core/vcpu/psci.h"
#include "vmmd/vmm/machine_devices.h"
#include "vmmd/vmm/vm_spec_validation.h"

namespace vmmd::vmm {

namespace a64 = core::aarch64;

namespace {

// Redistributor regions for `n` vCPUs: the low region (123 vCPUs), then a high one.
std::vector<core::RedistributorRegion> RedistributorRegions(uint32_t n) {
  std::vector<core::RedistributorRegion> regions;
  const uint32_t low = n < a64::kGicRedistRegion0Count ? n : a64::kGicRedistRegion0Count;
  regions.push_back({a64::kGicRedistBase, low});
  if (n > low) regions.push_back({a64::kGicRedistHighBase, n - low});
  return regions;
}

}  // namespace

Machine::Machine() = default;

Machine::~Machine() { Stop(); }

absl::StatusOr<std::unique_ptr<Machine>> Machine::Build(const VmSpec& spec,
                                                        core::Hypervisor* hypervisor,
                                                        std::shared_ptr<core::VcpuEventSink> sink,
                                                        const MachineOptions& options) {
  const core::HostCapabilities& caps = hypervisor->capabilities();
  if (!caps.smccc_filter) {
    return absl::FailedPreconditionError(
        "host KVM lacks the SMCCC filter (Linux >= 6.4): cannot control PSCI CPU_ON");
  }
  const uint32_t max_vcpus = EffectiveMaxVcpus(spec);
  auto m = std::unique_ptr<Machine>(new Machine());
  m->pmu_ = caps.pmu_v3;
  m->sink_ = std::move(sink);

  // Guest RAM and the VM. 40 IPA bits cover RAM (< 256 GiB) and the high redistributors.
  VMMD_ASSIGN_OR_RETURN(m->memory_,
                        core::GuestMemory::Create(a64::kRamBase, spec.memory_mib << 20));
  VMMD_ASSIGN_OR_RETURN(m->vm_, hypervisor->CreateVm(core::VmHandleConfig{.ipa_bits = 40}));
  VMMD_RETURN_IF_ERROR(m->vm_->MapMemory(0, m->memory_->base(), m->memory_->size(),
                                         m->memory_->host_base(), /*read_only=*/false));

  // Every possible vCPU, now: KVM refuses new vCPUs once the vGIC is initialised.
  const core::VcpuFeatures features{.power_off = false, .pmu_v3 = caps.pmu_v3};
  std::vector<core::VcpuSetup> setups;
  setups.reserve(max_vcpus);
  for (uint32_t id = 0; id < max_vcpus; ++id) {
    VMMD_ASSIGN_OR_RETURN(std::unique_ptr<core::VcpuHandle> vcpu, m->vm_->CreateVcpu(id));
    core::VcpuFeatures f = features;
    f.power_off = id != 0;  // only vCPU 0 starts; the rest wait for PSCI CPU_ON
    VMMD_RETURN_IF_ERROR(vcpu->Init(f));
    VMMD_ASSIGN_OR_RETURN(uint64_t mpidr, vcpu->GetReg(core::Reg::kMpidrEl1));
    m->mpidrs_.push_back(mpidr);
    setups.push_back(core::VcpuSetup{std::move(vcpu), mpidr, id < spec.boot_vcpus});
  }

  // PSCI CPU_ON/CPU_OFF to vmmd, before anything runs.
  for (const core::psci::ForwardedRange& r : core::psci::kForwardedRanges) {
    VMMD_RETURN_IF_ERROR(
        m->vm_->SetSmcccFilter(r.base, r.count, core::SmcccAction::kForwardToUser));
  }

  // vGICv3 sized for every possible vCPU.
  m->redists_ = RedistributorRegions(max_vcpus);
  VMMD_ASSIGN_OR_RETURN(m->vgic_, m->vm_->CreateVgicV3());
  VMMD_RETURN_IF_ERROR(m->vgic_->SetNrIrqs(a64::kNrIrqs));
  VMMD_RETURN_IF_ERROR(m->vgic_->SetDistributor(a64::kGicDistBase));
  for (uint32_t i = 0; i < m->redists_.size(); ++i) {
    VMMD_RETURN_IF_ERROR(m->vgic_->AddRedistributorRegion(i, m->redists_[i]));
  }
  // Timer PPIs are VM-wide; they need the vGIC device and must precede the first run.
  VMMD_RETURN_IF_ERROR(setups[0].handle->SetTimerPpis(a64::kVtimerIntid, a64::kPtimerIntid));
  VMMD_RETURN_IF_ERROR(m->vgic_->Initialize());
  if (caps.pmu_v3) {
    for (core::VcpuSetup& s : setups) VMMD_RETURN_IF_ERROR(s.handle->InitPmu(a64::kPmuIntid));
  }
  m->vcpus_ = std::make_unique<core::VcpuManager>(spec.name, std::move(setups), features, &m->bus_,
                                                  m->sink_.get());

  VMMD_RETURN_IF_ERROR(m->AddCommonDevices(spec));
  if (spec.firmware_path.empty()) {
    VMMD_RETURN_IF_ERROR(m->LoadDirectBoot(spec));
  } else {
    VMMD_RETURN_IF_ERROR(m->LoadFirmwareBoot(spec, options));
  }
  return m;
}

absl::Status Machine::AddCommonDevices(const VmSpec& spec) {
  devices_ = std::make_unique<Devices>();
  Devices& d = *devices_;
  if (!spec.console_log_path.empty()) {
    VMMD_ASSIGN_OR_RETURN(d.console, hw::ConsoleLog::Open(spec.console_log_path));
  }
  d.uart_irq = std::make_unique<SpiIrqLine>(vm_.get(), a64::kUartSpi);
  d.rtc_irq = std::make_unique<SpiIrqLine>(vm_.get(), a64::kRtcSpi);
  d.uart = std::make_shared<hw::Pl011>(d.console.get(), d.uart_irq.get());
  d.rtc = std::make_shared<hw::Pl031>(d.rtc_irq.get());
  VMMD_RETURN_IF_ERROR(bus_.Insert(a64::kUartBase, a64::kUartSize, d.uart, "pl011"));
  VMMD_RETURN_IF_ERROR(bus_.Insert(a64::kRtcBase, a64::kRtcSize, d.rtc, "pl031"));
  return absl::OkStatus();
}

absl::StatusOr<core::ScalePlan> Machine::Scale(uint32_t target) {
  if (devices_->ged == nullptr && target != vcpus_->PluggedCount()) {
    return absl::FailedPreconditionError(
        "vCPU hotplug needs a firmware (UEFI + ACPI) boot: this VM boots its kernel directly with "
        "a device tree, which cannot describe CPUs that come later; create it with a firmware");
  }
  VMMD_ASSIGN_OR_RETURN(core::ScalePlan plan, vcpus_->Scale(target));
  if (plan.notify_guest) {
    devices_->ged->RaiseEvent(hw::ged::kEventCpuHotplug);
    LogDebug("GED: CPU hotplug event raised (scale %u -> %u)", plan.previous, plan.target);
  }
  return plan;
}

absl::Status Machine::Start() { return vcpus_->StartBootVcpu(entry_, entry_x0_); }

void Machine::Stop() {
  if (vcpus_ != nullptr) vcpus_->StopAll();
  if (devices_ != nullptr && devices_->flash1 != nullptr) {
    if (absl::Status s = devices_->flash1->Flush(); !s.ok()) {
      LogWarning("flushing the UEFI variable store failed: %s", s.ToString());
    }
  }
}

}  // namespace vmmd::vmm
