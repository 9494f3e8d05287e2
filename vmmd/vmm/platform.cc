#include "vmmd/vmm/platform.h"

#include <algorithm>
#include <utility>

#include "core/arch/aarch64/layout.h"
#include "core/common/status_macros.h"
#include "hw/cpu_hotplug/cpu_hotplug.h"
#include "hw/cpu_hotplug/cpu_hotplug_regs.h"

namespace vmmd::vmm {

namespace a64 = core::aarch64;

std::vector<core::RedistributorRegion> RedistributorRegions(uint32_t possible) {
  std::vector<core::RedistributorRegion> regions;
  const uint32_t low = std::min(possible, a64::kGicRedistRegion0Count);
  regions.push_back({a64::kGicRedistBase, low});
  if (possible > low) regions.push_back({a64::kGicRedistHighBase, possible - low});
  return regions;
}

absl::StatusOr<std::shared_ptr<hw::Ged>> AddCpuHotplugDevices(DeviceTable& devices,
                                                              core::CpuHotplugBackend* backend) {
  absl::StatusOr<std::shared_ptr<hw::CpuHotplug>> block =
      devices.Add(board::kCpuHotplug, [backend](const DeviceSite& at) {
        return std::make_shared<hw::CpuHotplug>(backend, at.placement);
      });
  if (!block.ok()) return block.status();
  return devices.Add(board::kGed, [](const DeviceSite& at) {
    return std::make_shared<hw::Ged>(
        at.irq, at.placement,
        std::vector<hw::GedEventHandler>{
            {hw::ged::kEventCpuHotplug, std::string(hw::cpu_hotplug::kScanMethodPath)}},
        /*power_button=*/true);
  });
}

core::aarch64::BoardFdtConfig BoardFdtConfig(const MachineShape& shape, const DeviceTable& devices,
                                             uint64_t ram_base, uint64_t ram_size,
                                             std::string stdout_path) {
  a64::BoardFdtConfig fdt;
  fdt.ram_base = ram_base;
  fdt.ram_size = ram_size;
  const size_t boot = std::min<size_t>(shape.boot_vcpus, shape.mpidrs.size());
  fdt.cpu_mpidrs.assign(shape.mpidrs.begin(), shape.mpidrs.begin() + boot);
  fdt.gic_dist_base = a64::kGicDistBase;
  fdt.gic_redist_regions = shape.redists;
  fdt.pmu = shape.pmu;
  fdt.stdout_path = std::move(stdout_path);
  fdt.devices = devices.FdtNodes();
  return fdt;
}

absl::StatusOr<acpi::AcpiPlatform> BoardAcpiPlatform(const MachineShape& shape,
                                                     const DeviceTable& devices) {
  const DeviceTable::Record* console = devices.Find(board::kPl011);
  if (console == nullptr || !console->row->spi.has_value()) {
    return absl::FailedPreconditionError("the ACPI tables need the PL011 console with its SPI");
  }
  acpi::AcpiPlatform platform;
  for (size_t i = 0; i < shape.mpidrs.size(); ++i) {
    platform.cpus.push_back(
        acpi::AcpiCpu{shape.mpidrs[i] & acpi::kAcpiMpidrMask, i < shape.boot_vcpus});
  }
  platform.gic_dist_base = a64::kGicDistBase;
  for (const core::RedistributorRegion& r : shape.redists) {
    platform.gic_redist_regions.push_back({r.base, r.count});
  }
  platform.pmu = shape.pmu;
  platform.pmu_gsiv = a64::kPmuIntid;
  platform.timers = acpi::AcpiTimerGsivs{.secure_el1 = a64::kSecurePtimerIntid,
                                         .non_secure_el1 = a64::kPtimerIntid,
                                         .virtual_el1 = a64::kVtimerIntid,
                                         .non_secure_el2 = a64::kHypPtimerIntid};
  platform.console = acpi::AcpiConsole{.base = console->row->base,
                                       .gsiv = a64::kSpiIntidBase + *console->row->spi};
  platform.dsdt_devices = devices.DsdtDevices();
  return platform;
}

namespace {

std::string_view BlobFile(acpi::AcpiBlob blob) {
  return blob == acpi::AcpiBlob::kRsdp ? hw::table_loader::kAcpiRsdpFile
                                       : hw::table_loader::kAcpiTablesFile;
}

}  // namespace

absl::StatusOr<hw::TableLoader> AcpiTableLoader(const acpi::AcpiTables& tables) {
  hw::TableLoader loader;
  VMMD_RETURN_IF_ERROR(loader.Allocate(hw::table_loader::kAcpiRsdpFile, acpi::kAcpiRsdpAlign,
                                       hw::table_loader::Zone::kFseg));
  VMMD_RETURN_IF_ERROR(loader.Allocate(hw::table_loader::kAcpiTablesFile, acpi::kAcpiTablesAlign,
                                       hw::table_loader::Zone::kHigh));
  for (const acpi::AcpiPointerFixup& p : tables.pointers) {
    VMMD_RETURN_IF_ERROR(
        loader.AddPointer(BlobFile(p.blob), BlobFile(p.pointee), p.offset, p.size));
  }
  for (const acpi::AcpiChecksumFixup& c : tables.checksums) {
    VMMD_RETURN_IF_ERROR(
        loader.AddChecksum(BlobFile(c.blob), c.checksum_offset, c.start, c.length));
  }
  return loader;
}

}  // namespace vmmd::vmm
