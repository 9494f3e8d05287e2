// Firmware boot: stock edk2 (ArmVirtQemu, e.g. Debian's QEMU_EFI.fd) executes from flash0,
// finds the devices in the DT at the RAM base, keeps UEFI variables in flash1, and fetches the
// kernel, initrd, command line and vmmd's ACPI tables through fw_cfg. Because fw_cfg holds
// etc/table-loader, edk2 hands the OS ACPI (not the DT): MADT with every possible vCPU, the
// DSDT with the GED and the CPU-hotplug block.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "acpi/acpi_tables.h"
#include "core/arch/aarch64/fdt_builder.h"
#include "core/common/bounded_echo.h"
#include "core/common/status_macros.h"
#include "hw/flash/cfi_flash.h"
#include "hw/flash/flash_image_cache.h"
#include "hw/flash/flash_storage.h"
#include "hw/fw_cfg/fw_cfg.h"
#include "hw/fw_cfg/fw_cfg_items.h"
#include "hw/fw_cfg/table_loader.h"
#include "hw/ged/ged.h"
#include "vmmd/vmm/machine.h"

namespace vmmd::vmm {

namespace {

constexpr uint32_t kFlash0Slot = 1;
constexpr uint32_t kFlash1Slot = 2;
// QEMU reserves the first MiB of RAM for the DT in firmware boot.
constexpr uint64_t kFirmwareFdtMaxSize = 1 << 20;

}  // namespace

absl::Status Machine::LoadFirmwareBoot(const VmSpec& spec, VmSpecFiles& files,
                                       const MachineOptions& options) {
  // flash0: the firmware, executed in place from a read-only memslot; stray stores trap.
  const std::string firmware_name = absl::StrCat("\"", BoundedEcho(spec.firmware_path), "\"");
  std::shared_ptr<hw::FlashStorage> code;
  if (options.firmware_images != nullptr) {
    VMMD_ASSIGN_OR_RETURN(code, options.firmware_images->Load(std::move(files.firmware->fd),
                                                              firmware_name, board::kFlash0.size));
  } else {
    VMMD_ASSIGN_OR_RETURN(code, hw::FlashStorage::LoadImage(std::move(files.firmware->fd),
                                                            firmware_name, board::kFlash0.size));
  }
  VMMD_ASSIGN_OR_RETURN(std::shared_ptr<hw::CfiFlash> flash0,
                        devices_->Add(board::kFlash0, [&code](const DeviceSite& at) {
                          return std::make_shared<hw::CfiFlash>(std::move(code), at.placement,
                                                                /*read_only=*/true);
                        }));
  VMMD_RETURN_IF_ERROR(vm_->MapMemory(kFlash0Slot, board::kFlash0.base, board::kFlash0.size,
                                      flash0->data(), /*read_only=*/true));

  // flash1: the variable store. Reads go straight to a read-only memslot while the flash is in
  // read-array mode; the device removes the slot while a command is in progress.
  std::unique_ptr<hw::FlashStorage> vars;
  if (options.vars_path.empty()) {
    VMMD_ASSIGN_OR_RETURN(vars, hw::FlashStorage::CreateVolatile(board::kFlash1.size));
  } else {
    VMMD_ASSIGN_OR_RETURN(vars,
                          hw::FlashStorage::OpenPersistent(options.vars_path, board::kFlash1.size));
  }
  VMMD_ASSIGN_OR_RETURN(flash1_, devices_->Add(board::kFlash1, [&vars](const DeviceSite& at) {
    return std::make_shared<hw::CfiFlash>(std::move(vars), at.placement, /*read_only=*/false);
  }));
  core::VmHandle* vm = vm_.get();
  uint8_t* vars_data = flash1_->data();
  VMMD_RETURN_IF_ERROR(flash1_->EnableDirectReads([vm, vars_data](bool map) {
    return vm->MapMemory(kFlash1Slot, board::kFlash1.base, map ? board::kFlash1.size : 0, vars_data,
                         /*read_only=*/true);
  }));
  // Both banks in one DT node, as QEMU describes them (flash0's record carries it).
  VMMD_RETURN_IF_ERROR(devices_->DescribeInFdt(
      board::kFlash0,
      std::make_shared<hw::CfiFlashBanksNode>(
          std::vector<std::pair<uint64_t, uint64_t>>{{board::kFlash0.base, board::kFlash0.size},
                                                     {board::kFlash1.base, board::kFlash1.size}})));

  // ACPI: the CPU-hotplug block (its status comes from the vCPU manager) and the GED.
  VMMD_ASSIGN_OR_RETURN(ged_, AddCpuHotplugDevices(*devices_, vcpus_.get()));
  // The tables describe every DSDT device of the table; fw_cfg, which carries them, has none.
  VMMD_ASSIGN_OR_RETURN(acpi::AcpiPlatform platform, BoardAcpiPlatform(shape_, *devices_));
  VMMD_ASSIGN_OR_RETURN(acpi::AcpiTables tables, acpi::BuildAcpiTables(platform));
  VMMD_ASSIGN_OR_RETURN(hw::TableLoader loader, AcpiTableLoader(tables));

  // fw_cfg: what the firmware loads (kernel, initrd and command line by the legacy keys).
  // Without a kernel there, the firmware boots from its boot options: the disks' boot loaders.
  hw::FwCfgItems items;
  if (files.kernel.has_value()) {
    VMMD_ASSIGN_OR_RETURN(
        auto kernel,
        hw::OpenFileBlob(std::move(files.kernel->fd),
                         absl::StrCat("kernel_path \"", BoundedEcho(spec.kernel_path), "\"")));
    VMMD_RETURN_IF_ERROR(items.SetKernel(std::move(kernel)));
  }
  if (files.initrd.has_value()) {
    VMMD_ASSIGN_OR_RETURN(
        auto initrd,
        hw::OpenFileBlob(std::move(files.initrd->fd),
                         absl::StrCat("initrd_path \"", BoundedEcho(spec.initrd_path), "\"")));
    VMMD_RETURN_IF_ERROR(items.SetInitrd(std::move(initrd)));
  }
  VMMD_RETURN_IF_ERROR(items.SetCmdline(spec.cmdline));
  VMMD_RETURN_IF_ERROR(items.AddFile(hw::table_loader::kAcpiRsdpFile, std::move(tables.rsdp)));
  VMMD_RETURN_IF_ERROR(items.AddFile(hw::table_loader::kAcpiTablesFile, std::move(tables.tables)));
  VMMD_RETURN_IF_ERROR(items.AddFile(hw::table_loader::kLoaderFile, loader.Serialize()));
  const core::GuestMemory& memory = *memory_;
  absl::StatusOr<std::shared_ptr<hw::FwCfg>> fw_cfg =
      devices_->Add(board::kFwCfg, [&items, &memory](const DeviceSite& at) {
        return std::make_shared<hw::FwCfg>(std::move(items), memory, at.placement);
      });
  VMMD_RETURN_IF_ERROR(fw_cfg.status());

  // The DT the firmware reads at the RAM base (the OS gets ACPI instead).
  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, core::aarch64::BuildBoardFdt(FdtConfig()));
  if (blob.size() > kFirmwareFdtMaxSize) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("device tree of %u bytes exceeds the firmware's 1 MiB", blob.size()));
  }
  VMMD_RETURN_IF_ERROR(memory_->Write(memory_->base(), blob));
  entry_ = board::kFlash0.base;  // the reset vector
  entry_x0_ = memory_->base();
  return absl::OkStatus();
}

}  // namespace vmmd::vmm
