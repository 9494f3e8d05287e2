#include "core/vm/machine.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "core/arch/aarch64/fdt_builder.h"
#include "core/arch/aarch64/kernel_loader.h"
#include "core/arch/aarch64/layout.h"
#include "core/common/log.h"
#include "core/common/status_macros.h"
#include "core/vcpu/psci.h"
#include "core/vm/spi_irq_line.h"
#include "core/vm/vm_spec_validation.h"
#include "hw/pl011/console_log.h"
#include "hw/pl011/pl011.h"
#include "hw/pl031/pl031.h"

namespace vmmd::core {

namespace a64 = aarch64;

struct Machine::Devices {
  std::unique_ptr<hw::ConsoleLog> console;
  std::unique_ptr<SpiIrqLine> uart_irq;
  std::unique_ptr<SpiIrqLine> rtc_irq;
  std::shared_ptr<hw::Pl011> uart;
  std::shared_ptr<hw::Pl031> rtc;
};

namespace {

// Redistributor regions for `n` vCPUs: the low region (123 vCPUs), then a high one.
std::vector<RedistributorRegion> RedistributorRegions(uint32_t n) {
  std::vector<RedistributorRegion> regions;
  const uint32_t low = n < a64::kGicRedistRegion0Count ? n : a64::kGicRedistRegion0Count;
  regions.push_back({a64::kGicRedistBase, low});
  if (n > low) regions.push_back({a64::kGicRedistHighBase, n - low});
  return regions;
}

}  // namespace

Machine::Machine() = default;

Machine::~Machine() {
  if (vcpus_ != nullptr) vcpus_->StopAll();
}

absl::StatusOr<std::unique_ptr<Machine>> Machine::Build(const VmSpec& spec, Hypervisor* hypervisor,
                                                        VcpuEventSink* sink) {
  const HostCapabilities& caps = hypervisor->capabilities();
  if (!caps.smccc_filter) {
    return absl::FailedPreconditionError(
        "host KVM lacks the SMCCC filter (Linux >= 6.4): cannot control PSCI CPU_ON");
  }
  const uint32_t max_vcpus = EffectiveMaxVcpus(spec);
  auto m = std::unique_ptr<Machine>(new Machine());

  // Guest RAM and the VM. 40 IPA bits cover RAM (< 256 GiB) and the high redistributors.
  VMMD_ASSIGN_OR_RETURN(m->memory_, GuestMemory::Create(a64::kRamBase, spec.memory_mib << 20));
  VMMD_ASSIGN_OR_RETURN(m->vm_, hypervisor->CreateVm(VmHandleConfig{.ipa_bits = 40}));
  VMMD_RETURN_IF_ERROR(m->vm_->MapMemory(0, m->memory_->base(), m->memory_->size(),
                                         m->memory_->host_base(), /*read_only=*/false));

  // Every possible vCPU, now: KVM refuses new vCPUs once the vGIC is initialised.
  const VcpuFeatures features{.power_off = false, .pmu_v3 = caps.pmu_v3};
  std::vector<VcpuSetup> setups;
  setups.reserve(max_vcpus);
  for (uint32_t id = 0; id < max_vcpus; ++id) {
    VMMD_ASSIGN_OR_RETURN(std::unique_ptr<VcpuHandle> vcpu, m->vm_->CreateVcpu(id));
    VcpuFeatures f = features;
    f.power_off = id != 0;  // only vCPU 0 starts; the rest wait for PSCI CPU_ON
    VMMD_RETURN_IF_ERROR(vcpu->Init(f));
    VMMD_ASSIGN_OR_RETURN(uint64_t mpidr, vcpu->GetReg(Reg::kMpidrEl1));
    setups.push_back(VcpuSetup{std::move(vcpu), mpidr, id < spec.boot_vcpus});
  }

  // PSCI CPU_ON/CPU_OFF to vmmd, before anything runs.
  for (const psci::ForwardedRange& r : psci::kForwardedRanges) {
    VMMD_RETURN_IF_ERROR(m->vm_->SetSmcccFilter(r.base, r.count, SmcccAction::kForwardToUser));
  }

  // vGICv3 sized for every possible vCPU.
  const std::vector<RedistributorRegion> redists = RedistributorRegions(max_vcpus);
  VMMD_ASSIGN_OR_RETURN(m->vgic_, m->vm_->CreateVgicV3());
  VMMD_RETURN_IF_ERROR(m->vgic_->SetNrIrqs(a64::kNrIrqs));
  VMMD_RETURN_IF_ERROR(m->vgic_->SetDistributor(a64::kGicDistBase));
  for (uint32_t i = 0; i < redists.size(); ++i) {
    VMMD_RETURN_IF_ERROR(m->vgic_->AddRedistributorRegion(i, redists[i]));
  }
  // Timer PPIs are VM-wide; they need the vGIC device and must precede the first run.
  VMMD_RETURN_IF_ERROR(setups[0].handle->SetTimerPpis(a64::kVtimerIntid, a64::kPtimerIntid));
  VMMD_RETURN_IF_ERROR(m->vgic_->Initialize());
  if (caps.pmu_v3) {
    for (VcpuSetup& s : setups) VMMD_RETURN_IF_ERROR(s.handle->InitPmu(a64::kPmuIntid));
  }

  // Devices.
  m->devices_ = std::make_unique<Devices>();
  Devices& d = *m->devices_;
  if (!spec.console_log_path.empty()) {
    VMMD_ASSIGN_OR_RETURN(d.console, hw::ConsoleLog::Open(spec.console_log_path));
  }
  d.uart_irq = std::make_unique<SpiIrqLine>(m->vm_.get(), a64::kUartSpi);
  d.rtc_irq = std::make_unique<SpiIrqLine>(m->vm_.get(), a64::kRtcSpi);
  d.uart = std::make_shared<hw::Pl011>(d.console.get(), d.uart_irq.get());
  d.rtc = std::make_shared<hw::Pl031>(d.rtc_irq.get());
  VMMD_RETURN_IF_ERROR(m->bus_.Insert(a64::kUartBase, a64::kUartSize, d.uart, "pl011"));
  VMMD_RETURN_IF_ERROR(m->bus_.Insert(a64::kRtcBase, a64::kRtcSize, d.rtc, "pl031"));

  // The guest: Image + initrd, then the device tree describing the boot vCPUs.
  VMMD_ASSIGN_OR_RETURN(a64::DirectBootLayout layout,
                        a64::LoadKernelAndInitrd(*m->memory_, spec.kernel_path, spec.initrd_path));
  a64::BoardFdtConfig fdt;
  fdt.ram_base = m->memory_->base();
  fdt.ram_size = m->memory_->size();
  for (uint32_t id = 0; id < spec.boot_vcpus; ++id) fdt.cpu_mpidrs.push_back(setups[id].mpidr);
  fdt.gic_dist_base = a64::kGicDistBase;
  fdt.gic_redist_regions = redists;
  fdt.pmu = caps.pmu_v3;
  fdt.cmdline = spec.cmdline;
  if (layout.initrd_size != 0) fdt.initrd = a64::FdtInitrd{layout.initrd_addr, layout.initrd_size};
  fdt.stdout_path = "/" + d.uart->FdtNodeName();
  fdt.devices = {d.uart.get(), d.rtc.get()};
  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, a64::BuildBoardFdt(fdt));
  VMMD_RETURN_IF_ERROR(a64::WriteFdt(*m->memory_, layout, blob));
  m->entry_ = layout.entry;
  m->entry_x0_ = layout.fdt_addr;

  m->vcpus_ = std::make_unique<VcpuManager>(spec.name, std::move(setups), features, &m->bus_, sink);
  return m;
}

absl::Status Machine::Start() { return vcpus_->StartBootVcpu(entry_, entry_x0_); }

void Machine::Stop() { vcpus_->StopAll(); }

}  // namespace vmmd::core
