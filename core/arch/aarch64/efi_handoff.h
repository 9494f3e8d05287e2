// The hand-off an arm64 Linux kernel gets from its EFI stub, written by the VMM with no firmware:
// an EFI system table whose only configuration table is the ACPI 2.0 RSDP, an EFI memory map, and
// a device tree holding nothing but /chosen with the linux,uefi-* properties that point at them.
// The kernel then takes the path it takes after a real UEFI boot: memory from the map, the
// machine from the ACPI tables (a tree with only /chosen is a "stub", so ACPI is the default).
//
// What the kernel requires (Linux 6.12, arch/arm64/kernel/acpi.c, drivers/firmware/efi/):
//   - every linux,uefi-* property below (Debian's kernels also require linux,uefi-secure-boot);
//   - ACPI tables in memory the map types EFI_ACPI_RECLAIM_MEMORY, write-back: the kernel keeps
//     such memory reserved and maps the tables cacheable through its linear map; tables in
//     conventional memory are refused, and without any memory map every late ACPI mapping fails;
//   - no runtime services: the system table has none, and the command line must keep the kernel
//     from looking for them (efi=noruntime, which BuildEfiHandoffFdt appends).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/arch/aarch64/fdt_builder.h"

namespace vmmd::core::aarch64 {

// UEFI 2.10, 7.2 (EFI_MEMORY_TYPE) and the memory attributes the map uses.
inline constexpr uint32_t kEfiLoaderData = 2;
inline constexpr uint32_t kEfiConventionalMemory = 7;
inline constexpr uint32_t kEfiAcpiReclaimMemory = 9;
inline constexpr uint64_t kEfiMemoryUc = 0x1;
inline constexpr uint64_t kEfiMemoryWc = 0x2;
inline constexpr uint64_t kEfiMemoryWt = 0x4;
inline constexpr uint64_t kEfiMemoryWb = 0x8;
inline constexpr uint64_t kEfiPageSize = 4096;
// An EFI_MEMORY_DESCRIPTOR as the map carries it (version 1, no padding).
inline constexpr uint32_t kEfiMemoryDescriptorSize = 40;
inline constexpr uint32_t kEfiMemoryDescriptorVersion = 1;
// "IBI SYST", EFI 2.70.
inline constexpr uint64_t kEfiSystemTableSignature = 0x5453'5953'2049'4249ULL;
inline constexpr uint32_t kEfiSystemTableRevision = (2u << 16) | 70u;
inline constexpr uint32_t kEfiSystemTableSize = 120;
inline constexpr uint32_t kEfiConfigurationTableSize = 24;
// Granule the reserved region is rounded to: the largest arm64 page (a 64 KiB-page kernel reserves
// whole pages).
inline constexpr uint64_t kEfiReservedAlign = 0x1'0000;
// linux,uefi-secure-boot: 2 = disabled (3 would make Debian's kernel lock itself down).
inline constexpr uint32_t kEfiSecureBootDisabled = 2;

// Where the hand-off goes, in guest-physical addresses.
struct EfiHandoffConfig {
  uint64_t ram_base = 0;
  uint64_t ram_size = 0;
  // Guest RAM the kernel must leave alone: the tables, the system table and the map (and
  // whatever else the VMM puts there). Typed EFI_ACPI_RECLAIM_MEMORY; the rest of RAM is
  // conventional. kEfiReservedAlign-aligned, inside RAM.
  uint64_t reserved_base = 0;
  uint64_t reserved_size = 0;
  // Where the system table blob is written: inside the reserved region, 8-byte aligned.
  uint64_t address = 0;
  // The ACPI 2.0 RSDP (the system table's ACPI 2.0 configuration table entry).
  uint64_t rsdp_address = 0;
};

// The /chosen values that point at the blob.
struct EfiHandoffParams {
  uint64_t system_table = 0;
  uint64_t mmap_start = 0;
  uint32_t mmap_size = 0;
  uint32_t mmap_desc_size = kEfiMemoryDescriptorSize;
  uint32_t mmap_desc_ver = kEfiMemoryDescriptorVersion;
};

struct EfiHandoff {
  // Written at config.address: the system table, its configuration table, the firmware vendor
  // string, then the memory map.
  std::vector<uint8_t> blob;
  EfiHandoffParams params;
};

// INVALID_ARGUMENT naming the field when RAM is empty or wraps, the reserved region is unaligned,
// empty or not inside RAM, or the blob or the RSDP would not lie inside the reserved region.
absl::StatusOr<EfiHandoff> BuildEfiHandoff(const EfiHandoffConfig& config);

// The stub device tree: the root with only /chosen — bootargs (`cmdline` and " efi=noruntime"),
// the initrd when there is one, and every linux,uefi-* property.
struct EfiStubFdtConfig {
  std::string cmdline;
  std::optional<FdtInitrd> initrd;
  EfiHandoffParams efi;
};
absl::StatusOr<std::vector<uint8_t>> BuildEfiStubFdt(const EfiStubFdtConfig& config);

}  // namespace vmmd::core::aarch64
