#include "core/arch/aarch64/efi_handoff.h"

#include <zlib.h>

#include <array>
#include <cstring>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/arch/aarch64/fdt_writer.h"
#include "core/common/status_macros.h"

namespace vmmd::core::aarch64 {
namespace {

// ACPI_20_TABLE_GUID 8868e871-e4f1-11d3-bc22-0080c73c8881, in its in-memory byte order.
constexpr std::array<uint8_t, 16> kAcpi20TableGuid = {
    0x71, 0xe8, 0x68, 0x88, 0xf1, 0xe4, 0xd3, 0x11, 0xbc, 0x22, 0x00, 0x80, 0xc7, 0x3c, 0x88, 0x81};
constexpr std::u16string_view kFirmwareVendor = u"vmmd";
// Offsets in the system table (UEFI 2.10, 4.3).
constexpr size_t kHdrRevision = 8;
constexpr size_t kHdrSize = 12;
constexpr size_t kHdrCrc32 = 16;
constexpr size_t kFirmwareVendorPtr = 24;
constexpr size_t kFirmwareRevision = 32;
constexpr size_t kNumberOfTableEntries = 104;
constexpr size_t kConfigurationTablePtr = 112;

void Put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
void Put64(std::vector<uint8_t>& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
size_t AlignUp8(size_t v) { return (v + 7) & ~size_t{7}; }

bool Inside(uint64_t base, uint64_t size, uint64_t outer_base, uint64_t outer_size) {
  return base >= outer_base && size <= outer_size && base - outer_base <= outer_size - size;
}

struct Region {
  uint64_t base;
  uint64_t size;
  uint32_t type;
};

void PutDescriptor(std::vector<uint8_t>& b, size_t at, const Region& r) {
  Put32(b, at, r.type);
  Put64(b, at + 8, r.base);
  Put64(b, at + 16, 0);  // VirtualStart: no runtime mappings
  Put64(b, at + 24, r.size / kEfiPageSize);
  // Ordinary RAM as firmware reports it: every cacheability, write-back among them.
  Put64(b, at + 32, kEfiMemoryUc | kEfiMemoryWc | kEfiMemoryWt | kEfiMemoryWb);
}

absl::Status Validate(const EfiHandoffConfig& c) {
  if (c.ram_size == 0 || c.ram_base + c.ram_size < c.ram_base) {
    return absl::InvalidArgumentError("EFI hand-off: RAM is empty or wraps");
  }
  if (c.ram_base % kEfiPageSize != 0 || c.ram_size % kEfiPageSize != 0) {
    return absl::InvalidArgumentError("EFI hand-off: RAM is not a whole number of 4 KiB pages");
  }
  if (c.reserved_size == 0 || c.reserved_base % kEfiReservedAlign != 0 ||
      c.reserved_size % kEfiReservedAlign != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "EFI hand-off: the reserved region [0x%x, +0x%x) must be non-empty and 64 KiB-aligned",
        c.reserved_base, c.reserved_size));
  }
  if (!Inside(c.reserved_base, c.reserved_size, c.ram_base, c.ram_size)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "EFI hand-off: the reserved region [0x%x, +0x%x) is not inside RAM [0x%x, +0x%x)",
        c.reserved_base, c.reserved_size, c.ram_base, c.ram_size));
  }
  if (c.address % 8 != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("EFI hand-off: address 0x%x is not 8-byte aligned", c.address));
  }
  if (!Inside(c.rsdp_address, 36, c.reserved_base, c.reserved_size)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "EFI hand-off: the RSDP at 0x%x is not inside the reserved region", c.rsdp_address));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EfiHandoff> BuildEfiHandoff(const EfiHandoffConfig& c) {
  VMMD_RETURN_IF_ERROR(Validate(c));
  // System table | configuration table (1 entry) | vendor string | memory map.
  const size_t config_at = kEfiSystemTableSize;
  const size_t vendor_at = config_at + kEfiConfigurationTableSize;
  const size_t vendor_size = (kFirmwareVendor.size() + 1) * sizeof(char16_t);
  const size_t map_at = AlignUp8(vendor_at + vendor_size);

  std::vector<Region> map;
  const uint64_t ram_end = c.ram_base + c.ram_size;
  const uint64_t reserved_end = c.reserved_base + c.reserved_size;
  if (c.reserved_base > c.ram_base) {
    map.push_back({c.ram_base, c.reserved_base - c.ram_base, kEfiConventionalMemory});
  }
  map.push_back({c.reserved_base, c.reserved_size, kEfiAcpiReclaimMemory});
  if (reserved_end < ram_end) {
    map.push_back({reserved_end, ram_end - reserved_end, kEfiConventionalMemory});
  }
  const size_t map_size = map.size() * kEfiMemoryDescriptorSize;

  EfiHandoff out;
  std::vector<uint8_t>& b = out.blob;
  b.assign(map_at + map_size, 0);
  if (!Inside(c.address, b.size(), c.reserved_base, c.reserved_size)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "EFI hand-off: %u bytes at 0x%x do not fit the reserved region", b.size(), c.address));
  }

  Put64(b, 0, kEfiSystemTableSignature);
  Put32(b, kHdrRevision, kEfiSystemTableRevision);
  Put32(b, kHdrSize, kEfiSystemTableSize);  // the whole table, header included
  Put64(b, kFirmwareVendorPtr, c.address + vendor_at);
  Put32(b, kFirmwareRevision, 1);
  // Console handles and protocols, runtime and boot services: none (all zero).
  Put64(b, kNumberOfTableEntries, 1);
  Put64(b, kConfigurationTablePtr, c.address + config_at);
  std::memcpy(&b[config_at], kAcpi20TableGuid.data(), kAcpi20TableGuid.size());
  Put64(b, config_at + kAcpi20TableGuid.size(), c.rsdp_address);
  for (size_t i = 0; i < kFirmwareVendor.size(); ++i) {
    b[vendor_at + 2 * i] = static_cast<uint8_t>(kFirmwareVendor[i] & 0xff);
    b[vendor_at + 2 * i + 1] = static_cast<uint8_t>(kFirmwareVendor[i] >> 8);
  }
  for (size_t i = 0; i < map.size(); ++i) {
    PutDescriptor(b, map_at + i * kEfiMemoryDescriptorSize, map[i]);
  }
  // The header's CRC32 over the whole table with the CRC field zero (UEFI 2.10, 4.2.1).
  Put32(b, kHdrCrc32, static_cast<uint32_t>(::crc32(0L, b.data(), kEfiSystemTableSize)));

  out.params.system_table = c.address;
  out.params.mmap_start = c.address + map_at;
  out.params.mmap_size = static_cast<uint32_t>(map_size);
  return out;
}

absl::StatusOr<std::vector<uint8_t>> BuildEfiStubFdt(const EfiStubFdtConfig& c) {
  FdtWriter fdt;
  VMMD_RETURN_IF_ERROR(fdt.PropU32("#address-cells", 2));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("#size-cells", 2));
  VMMD_RETURN_IF_ERROR(fdt.BeginNode("chosen"));
  const std::string bootargs =
      c.cmdline.empty() ? "efi=noruntime" : absl::StrCat(c.cmdline, " efi=noruntime");
  VMMD_RETURN_IF_ERROR(fdt.PropString("bootargs", bootargs));
  if (c.initrd.has_value()) {
    VMMD_RETURN_IF_ERROR(fdt.PropU64("linux,initrd-start", c.initrd->start));
    VMMD_RETURN_IF_ERROR(fdt.PropU64("linux,initrd-end", c.initrd->start + c.initrd->size));
  }
  VMMD_RETURN_IF_ERROR(fdt.PropU64("linux,uefi-system-table", c.efi.system_table));
  VMMD_RETURN_IF_ERROR(fdt.PropU64("linux,uefi-mmap-start", c.efi.mmap_start));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("linux,uefi-mmap-size", c.efi.mmap_size));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("linux,uefi-mmap-desc-size", c.efi.mmap_desc_size));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("linux,uefi-mmap-desc-ver", c.efi.mmap_desc_ver));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("linux,uefi-secure-boot", kEfiSecureBootDisabled));
  VMMD_RETURN_IF_ERROR(fdt.EndNode());
  return fdt.Finish();
}

}  // namespace vmmd::core::aarch64
