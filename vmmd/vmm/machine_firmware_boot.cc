// Firmware boot: stock edk2 (ArmVirtQemu, e.g. Debian's QEMU_EFI.fd) executes from flash0,
// finds the devices in the DT at the RAM base, keeps UEFI variables in flash1, and fetches the
// kernel, initrd, command line and vmmd's ACPI tables through fw_cfg. Because fw_cfg holds
// etc/table-loader, edk2 hands the OS ACPI (not the DT): MADT with every possible vCPU, the
// DSDT with the GED and the CPU-hotplug block.
#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "acpi/acpi_tables.h"
#include "core/arch/aarch64/fdt_builder.h"
#include "core/arch/aarch64/layout.h"
#include "core/common/status_macros.h"
#include "hw/flash/flash_storage.h"
#include "hw/fw_cfg/fw_cfg_items.h"
#include "hw/fw_cfg/table_loader.h"
#include "vmmd/vmm/machine.h"
#include "vmmd/vmm/machine_devices.h"

namespace vmmd::vmm {

namespace a64 = core::aarch64;

namespace {

constexpr uint32_t kFlash0Slot = 1;
constexpr uint32_t kFlash1Slot = 2;
// QEMU reserves the first MiB of RAM for the DT in firmware boot.
constexpr uint64_t kFirmwareFdtMaxSize = 1 << 20;

std::string_view BlobFile(acpi::AcpiBlob blob) {
  return blob == acpi::AcpiBlob::kRsdp ? hw::table_loader::kAcpiRsdpFile
                                       : hw::table_loader::kAcpiTablesFile;
}

// The etc/table-loader script that makes edk2 place, link and checksum vmmd's ACPI tables.
absl::StatusOr<std::vector<uint8_t>> LoaderScript(const acpi::AcpiTables& tables) {
  hw::TableLoader loader;
  VMMD_RETURN_IF_ERROR(loader.Allocate(hw::table_loader::kAcpiRsdpFile, acpi::kAcpiRsdpAlign,
                                       hw::table_loader::Zone::kFseg));
  VMMD_RETURN_IF_ERROR(loader.Allocate(hw::table_loader::kAcpiTablesFile, acpi::kAcpiTablesAlign,
                                       hw::table_loader::Zone::kHigh));
  for (const acpi::AcpiPointerFixup& p : tables.pointers) {
    VMMD_RETURN_IF_ERROR(loader.AddPointer(BlobFile(p.blob), BlobFile(p.pointee), p.offset, p.size));
  }
  for (const acpi::AcpiChecksumFixup& c : tables.checksums) {
    VMMD_RETURN_IF_ERROR(loader.AddChecksum(BlobFile(c.blob), c.checksum_offset, c.start, c.length));
  }
  return loader.Serialize();
}

}  // namespace

absl::Status Machine::LoadFirmwareBoot(const VmSpec& spec, const MachineOptions& options) {
  Devices& d = *devices_;

  // flash0: the firmware, executed in place from a read-only memslot; stray stores trap.
  VMMD_ASSIGN_OR_RETURN(std::unique_ptr<hw::FlashStorage> code,
                        hw::FlashStorage::LoadImage(spec.firmware_path, a64::kFlashBankSize));
  d.flash0 = std::make_shared<hw::CfiFlash>(std::move(code), a64::kFlash0Base, /*read_only=*/true);
  VMMD_RETURN_IF_ERROR(bus_.Insert(a64::kFlash0Base, a64::kFlashBankSize, d.flash0, "flash0"));
  VMMD_RETURN_IF_ERROR(vm_->MapMemory(kFlash0Slot, a64::kFlash0Base, a64::kFlashBankSize,
                                      d.flash0->data(), /*read_only=*/true));

  // flash1: the variable store. Reads go straight to a read-only memslot while the flash is in
  // read-array mode; the device removes the slot while a command is in progress.
  std::unique_ptr<hw::FlashStorage> vars;
  if (options.vars_path.empty()) {
    VMMD_ASSIGN_OR_RETURN(vars, hw::FlashStorage::CreateVolatile(a64::kFlashBankSize));
  } else {
    VMMD_ASSIGN_OR_RETURN(vars, hw::FlashStorage::OpenPersistent(options.vars_path,
                                                                 a64::kFlashBankSize));
  }
  d.flash1 = std::make_shared<hw::CfiFlash>(std::move(vars), a64::kFlash1Base, /*read_only=*/false);
  VMMD_RETURN_IF_ERROR(bus_.Insert(a64::kFlash1Base, a64::kFlashBankSize, d.flash1, "flash1"));
  core::VmHandle* vm = vm_.get();
  uint8_t* vars_data = d.flash1->data();
  VMMD_RETURN_IF_ERROR(d.flash1->EnableDirectReads([vm, vars_data](bool map) {
    return vm->MapMemory(kFlash1Slot, a64::kFlash1Base, map ? a64::kFlashBankSize : 0, vars_data,
                         /*read_only=*/true);
  }));

  // ACPI: the GED and the CPU-hotplug block (its status comes from the vCPU manager).
  d.ged_irq = std::make_unique<SpiIrqLine>(vm_.get(), a64::kGedSpi);
  hw::GedConfig ged_config;
  ged_config.handlers.push_back(
      {hw::ged::kEventCpuHotplug, std::string(hw::cpu_hotplug::kScanMethodPath)});
  d.ged = std::make_shared<hw::Ged>(d.ged_irq.get(), std::move(ged_config));
  d.cpu_hotplug = std::make_shared<hw::CpuHotplug>(vcpus_.get());
  d.uart_aml = std::make_unique<acpi::Pl011Aml>(a64::kUartBase, static_cast<uint32_t>(a64::kUartSize),
                                                a64::kSpiIntidBase + a64::kUartSpi);
  VMMD_RETURN_IF_ERROR(bus_.Insert(a64::kGedBase, hw::ged::kRegionSize, d.ged, "ged"));
  VMMD_RETURN_IF_ERROR(bus_.Insert(a64::kCpuHotplugBase, hw::cpu_hotplug::kBlockSize,
                                   d.cpu_hotplug, "cpu-hotplug"));

  acpi::AcpiPlatform platform;
  for (size_t i = 0; i < mpidrs_.size(); ++i) {
    platform.cpus.push_back(
        acpi::AcpiCpu{mpidrs_[i] & acpi::kAcpiMpidrMask, i < spec.boot_vcpus});
  }
  platform.gic_dist_base = a64::kGicDistBase;
  for (const core::RedistributorRegion& r : redists_)
    platform.gic_redist_regions.push_back({r.base, r.count});
  platform.pmu = pmu_;
  platform.pmu_gsiv = a64::kPmuIntid;
  platform.dsdt_devices = {d.uart_aml.get(), d.cpu_hotplug.get(), d.ged.get()};
  VMMD_ASSIGN_OR_RETURN(acpi::AcpiTables tables, acpi::BuildAcpiTables(platform));
  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> loader, LoaderScript(tables));

  // fw_cfg: what the firmware loads (kernel, initrd and command line by the legacy keys).
  hw::FwCfgItems items;
  VMMD_ASSIGN_OR_RETURN(auto kernel, hw::OpenFileBlob(spec.kernel_path));
  VMMD_RETURN_IF_ERROR(items.SetKernel(std::move(kernel)));
  if (!spec.initrd_path.empty()) {
    VMMD_ASSIGN_OR_RETURN(auto initrd, hw::OpenFileBlob(spec.initrd_path));
    VMMD_RETURN_IF_ERROR(items.SetInitrd(std::move(initrd)));
  }
  VMMD_RETURN_IF_ERROR(items.SetCmdline(spec.cmdline));
  VMMD_RETURN_IF_ERROR(items.AddFile(hw::table_loader::kAcpiRsdpFile, std::move(tables.rsdp)));
  VMMD_RETURN_IF_ERROR(items.AddFile(hw::table_loader::kAcpiTablesFile, std::move(tables.tables)));
  VMMD_RETURN_IF_ERROR(items.AddFile(hw::table_loader::kLoaderFile, std::move(loader)));
  d.fw_cfg = std::make_shared<hw::FwCfg>(std::move(items), *memory_);
  VMMD_RETURN_IF_ERROR(bus_.Insert(a64::kFwCfgBase, a64::kFwCfgSize, d.fw_cfg, "fw_cfg"));

  // The DT the firmware reads at the RAM base (the OS gets ACPI instead).
  d.flash_node = std::make_unique<hw::CfiFlashBanksNode>(std::vector<std::pair<uint64_t, uint64_t>>{
      {a64::kFlash0Base, a64::kFlashBankSize}, {a64::kFlash1Base, a64::kFlashBankSize}});
  a64::BoardFdtConfig fdt;
  fdt.ram_base = memory_->base();
  fdt.ram_size = memory_->size();
  fdt.cpu_mpidrs.assign(mpidrs_.begin(), mpidrs_.begin() + spec.boot_vcpus);
  fdt.gic_dist_base = a64::kGicDistBase;
  fdt.gic_redist_regions = redists_;
  fdt.pmu = pmu_;
  fdt.stdout_path = "/" + d.uart->FdtNodeName();
  fdt.devices = {d.uart.get(), d.rtc.get(), d.fw_cfg.get(), d.flash_node.get()};
  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, a64::BuildBoardFdt(fdt));
  if (blob.size() > kFirmwareFdtMaxSize) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("device tree of %u bytes exceeds the firmware's 1 MiB", blob.size()));
  }
  VMMD_RETURN_IF_ERROR(memory_->Write(memory_->base(), blob));
  entry_ = a64::kFlash0Base;  // the reset vector
  entry_x0_ = memory_->base();
  return absl::OkStatus();
}

}  // namespace vmmd::vmm
