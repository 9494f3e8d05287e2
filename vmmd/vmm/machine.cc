#include "vmmd/vmm/machine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/arch/aarch64/layout.h"
#include "core/common/log.h"
#include "core/common/status_macros.h"
#include "core/vcpu/psci.h"
#include "hw/flash/cfi_flash.h"
#include "hw/ged/ged.h"
#include "hw/pl011/console_log.h"
#include "hw/pl011/pl011.h"
#include "hw/pl031/pl031.h"
#include "hw/virtio_blk/virtio_blk.h"
#include "vmmd/vmm/vm_spec_validation.h"

namespace vmmd::vmm {

namespace a64 = core::aarch64;

Machine::Machine() = default;

Machine::~Machine() { Stop(); }

absl::StatusOr<std::unique_ptr<Machine>> Machine::Build(const VmSpec& spec, VmSpecFiles files,
                                                        core::Hypervisor* hypervisor,
                                                        std::shared_ptr<core::VcpuEventSink> sink,
                                                        const MachineOptions& options) {
  const core::HostCapabilities& caps = hypervisor->capabilities();
  if (!caps.smccc_filter) {
    return absl::FailedPreconditionError(
        "host KVM lacks the SMCCC filter (Linux >= 6.4): cannot control PSCI CPU_ON");
  }
  const uint32_t max_vcpus = EffectiveMaxVcpus(spec);
  // A device tree describes only the boot vCPUs: nothing above them without ACPI.
  const uint32_t plugged =
      CanHotplugVcpus(spec) ? std::min(options.plugged_vcpus, max_vcpus) : spec.boot_vcpus;
  auto m = std::unique_ptr<Machine>(new Machine());
  m->shape_.pmu = caps.pmu_v3;
  m->shape_.boot_vcpus = spec.boot_vcpus;
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
    m->shape_.mpidrs.push_back(mpidr);
    setups.push_back(core::VcpuSetup{std::move(vcpu), mpidr, id < spec.boot_vcpus, id < plugged});
  }

  // PSCI CPU_ON/CPU_OFF to vmmd, before anything runs.
  for (const core::psci::ForwardedRange& r : core::psci::kForwardedRanges) {
    VMMD_RETURN_IF_ERROR(
        m->vm_->SetSmcccFilter(r.base, r.count, core::SmcccAction::kForwardToUser));
  }

  // vGICv3 sized for every possible vCPU.
  m->shape_.redists = RedistributorRegions(max_vcpus);
  VMMD_ASSIGN_OR_RETURN(m->vgic_, m->vm_->CreateVgicV3());
  VMMD_RETURN_IF_ERROR(m->vgic_->SetNrIrqs(a64::kNrIrqs));
  VMMD_RETURN_IF_ERROR(m->vgic_->SetDistributor(a64::kGicDistBase));
  for (uint32_t i = 0; i < m->shape_.redists.size(); ++i) {
    VMMD_RETURN_IF_ERROR(m->vgic_->AddRedistributorRegion(i, m->shape_.redists[i]));
  }
  // Timer PPIs are VM-wide; they need the vGIC device and must precede the first run.
  VMMD_RETURN_IF_ERROR(setups[0].handle->SetTimerPpis(a64::kVtimerIntid, a64::kPtimerIntid));
  VMMD_RETURN_IF_ERROR(m->vgic_->Initialize());
  if (caps.pmu_v3) {
    for (core::VcpuSetup& s : setups) VMMD_RETURN_IF_ERROR(s.handle->InitPmu(a64::kPmuIntid));
  }
  m->vcpus_ = std::make_unique<core::VcpuManager>(spec.name, std::move(setups), features, &m->bus_,
                                                  m->sink_.get());

  m->name_ = spec.name;
  m->devices_ = std::make_unique<DeviceTable>(kBoardDevices, m->vm_.get());
  VMMD_RETURN_IF_ERROR(m->AddCommonDevices(options));
  VMMD_RETURN_IF_ERROR(m->AddVirtioDevices(spec, files));
  switch (EffectiveBootMode(spec)) {
    case BootMode::kUefi:
      if (!files.firmware.has_value()) {
        return absl::InvalidArgumentError("boot_mode UEFI needs a firmware_path");
      }
      VMMD_RETURN_IF_ERROR(m->LoadFirmwareBoot(spec, files, options));
      break;
    case BootMode::kAcpiDirect:
      VMMD_RETURN_IF_ERROR(m->LoadAcpiDirectBoot(spec, files));
      break;
    default:
      VMMD_RETURN_IF_ERROR(m->LoadDirectBoot(spec, files));
      break;
  }
  // The bus map is derived from the complete table.
  VMMD_RETURN_IF_ERROR(m->devices_->MapOnto(m->bus_));
  return m;
}

absl::Status Machine::AddCommonDevices(const MachineOptions& options) {
  if (!options.console_dir.empty()) {
    VMMD_ASSIGN_OR_RETURN(console_, hw::ConsoleLog::Open(options.console_dir));
  }
  hw::ConsoleLog* console = console_.get();
  VMMD_ASSIGN_OR_RETURN(uart_, devices_->Add(board::kPl011, [console](const DeviceSite& at) {
    return std::make_shared<hw::Pl011>(console, at.irq, at.placement);
  }));
  absl::StatusOr<std::shared_ptr<hw::Pl031>> rtc = devices_->Add(
      board::kPl031,
      [](const DeviceSite& at) { return std::make_shared<hw::Pl031>(at.irq, at.placement); });
  return rtc.status();
}

core::aarch64::BoardFdtConfig Machine::FdtConfig() const {
  return BoardFdtConfig(shape_, *devices_, memory_->base(), memory_->size(),
                        "/" + uart_->FdtNodeName());
}

absl::StatusOr<core::ScalePlan> Machine::Scale(uint32_t target) {
  if (ged_ == nullptr && target != vcpus_->PluggedCount()) {
    return absl::FailedPreconditionError(
        "vCPU hotplug needs ACPI: this VM boots its kernel with a device tree, which cannot "
        "describe CPUs that come later; create it with boot_mode ACPI_DIRECT (or UEFI)");
  }
  VMMD_ASSIGN_OR_RETURN(core::ScalePlan plan, vcpus_->Scale(target));
  if (plan.notify_guest) {
    ged_->RaiseEvent(hw::ged::kEventCpuHotplug);
    LogDebug("GED: CPU hotplug event raised (scale %u -> %u)", plan.previous, plan.target);
  }
  return plan;
}

absl::Status Machine::PressPowerButton() {
  if (ged_ == nullptr) {
    return absl::FailedPreconditionError(
        "this VM boots its kernel with a device tree: it has no ACPI power button");
  }
  ged_->RaiseEvent(hw::ged::kEventPowerButton);
  LogDebug("GED: power button pressed");
  return absl::OkStatus();
}

absl::Status Machine::Start() {
  if (io_ != nullptr) {
    // The thread's name: "io-" and as much of the VM's name as fits in 15 characters.
    VMMD_RETURN_IF_ERROR(io_->Start(absl::StrCat("io-", name_), ThreadRole::kIo));
  }
  return vcpus_->StartBootVcpu(entry_, entry_x0_);
}

void Machine::Stop() {
  if (vcpus_ != nullptr) vcpus_->StopAll();
  // Then the I/O thread (the request it serves completes), then the disks: synced and closed,
  // which releases their locks for the next machine of this VM or another VM.
  if (io_ != nullptr) io_->Stop();
  for (const auto& [d, transport] : disks_) {
    if (absl::Status s = d->Close(); !s.ok()) {
      LogWarning("%s: closing a disk: %s", name_, s.ToString());
    }
  }
  if (flash1_ != nullptr) {
    if (absl::Status s = flash1_->Flush(); !s.ok()) {
      LogWarning("flushing the UEFI variable store failed: %s", s.ToString());
    }
  }
}

}  // namespace vmmd::vmm
