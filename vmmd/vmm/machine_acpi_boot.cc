// ACPI direct boot: the kernel and initrd loaded as on a direct boot, but the guest is described
// by the ACPI tables a firmware boot gets (every possible vCPU, the GED, the CPU-hotplug block),
// handed over the way the kernel's EFI stub would: an EFI system table and memory map and a
// /chosen-only device tree (core/arch/aarch64/efi_handoff.h). No firmware runs; vCPUs can be
// hot-plugged as on a firmware boot.
//
// The 2 MiB block the direct-boot layout reserves for the DTB holds all of it:
//   +0x0_0000  the stub device tree (x0)
//   +0x1_0000  the EFI system table, its configuration table and the memory map
//   +0x2_0000  the RSDP, then the other tables
// and the memory map types [block, end of the tables rounded up to 64 KiB) ACPI reclaim memory,
// which the kernel keeps reserved.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "acpi/acpi_tables.h"
#include "core/arch/aarch64/efi_handoff.h"
#include "core/arch/aarch64/kernel_loader.h"
#include "core/common/status_macros.h"
#include "vmmd/vmm/machine.h"

namespace vmmd::vmm {

namespace a64 = core::aarch64;

namespace {

constexpr uint64_t kHandoffOffset = 0x1'0000;
constexpr uint64_t kRsdpOffset = 0x2'0000;

constexpr uint64_t AlignUp(uint64_t v, uint64_t align) { return (v + align - 1) & ~(align - 1); }

}  // namespace

absl::Status Machine::LoadAcpiDirectBoot(const VmSpec& spec, VmSpecFiles& files) {
  VMMD_ASSIGN_OR_RETURN(a64::DirectBootLayout layout, LoadKernel(spec, files));

  // The CPU-hotplug block and the GED, then the tables that describe every device.
  VMMD_ASSIGN_OR_RETURN(ged_, AddCpuHotplugDevices(*devices_, vcpus_.get()));
  VMMD_ASSIGN_OR_RETURN(acpi::AcpiPlatform platform, BoardAcpiPlatform(shape_, *devices_));
  VMMD_ASSIGN_OR_RETURN(acpi::AcpiTables tables, acpi::BuildAcpiTables(platform));

  const uint64_t block = layout.fdt_addr;
  const uint64_t rsdp_address = block + kRsdpOffset;
  const uint64_t tables_address =
      AlignUp(rsdp_address + tables.rsdp.size(), acpi::kAcpiTablesAlign);
  const uint64_t tables_end = tables_address + tables.tables.size();
  if (tables_end > block + layout.fdt_max_size) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the ACPI tables (%u bytes) do not fit the %u KiB boot block; use fewer max_vcpus",
        tables.tables.size(), layout.fdt_max_size >> 10));
  }
  VMMD_ASSIGN_OR_RETURN(acpi::AcpiImages images,
                        acpi::ApplyAcpiFixups(tables, rsdp_address, tables_address));
  VMMD_RETURN_IF_ERROR(memory_->Write(rsdp_address, images.rsdp));
  VMMD_RETURN_IF_ERROR(memory_->Write(tables_address, images.tables));

  VMMD_ASSIGN_OR_RETURN(a64::EfiHandoff handoff,
                        a64::BuildEfiHandoff(a64::EfiHandoffConfig{
                            .ram_base = memory_->base(),
                            .ram_size = memory_->size(),
                            .reserved_base = block,
                            .reserved_size = AlignUp(tables_end, a64::kEfiReservedAlign) - block,
                            .address = block + kHandoffOffset,
                            .rsdp_address = rsdp_address}));
  if (handoff.blob.size() > kRsdpOffset - kHandoffOffset) {
    return absl::InternalError("the EFI system table and memory map overlap the RSDP");
  }
  VMMD_RETURN_IF_ERROR(memory_->Write(block + kHandoffOffset, handoff.blob));

  a64::EfiStubFdtConfig fdt;
  fdt.cmdline = spec.cmdline;
  fdt.efi = handoff.params;
  if (layout.initrd_size != 0) fdt.initrd = a64::FdtInitrd{layout.initrd_addr, layout.initrd_size};
  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, a64::BuildEfiStubFdt(fdt));
  if (blob.size() > kHandoffOffset) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the boot device tree (%u bytes, mostly the command line) exceeds 64 KiB", blob.size()));
  }
  VMMD_RETURN_IF_ERROR(a64::WriteFdt(*memory_, layout, blob));
  entry_ = layout.entry;
  entry_x0_ = layout.fdt_addr;
  return absl::OkStatus();
}

}  // namespace vmmd::vmm
