// Every ACPI table of a vmmd VM, laid out for a firmware table loader (QEMU's
// "etc/table-loader" protocol as edk2's OvmfPkg/AcpiPlatformDxe/QemuFwCfgAcpi.c runs it):
//
//   blob kRsdp:   the RSDP (36 bytes).
//   blob kTables: DSDT, FADT, APIC (MADT), GTDT, SPCR, PPTT, XSDT, each starting 8-byte aligned,
//                 zero padding in between.
//
// Pointer fields (RSDP.XsdtAddress, FADT.X_DSDT, every XSDT entry) hold the pointee's offset in
// its blob; the loader adds the blob's guest address (ADD_POINTER). Checksum bytes are ZERO in
// both blobs: edk2's ADD_CHECKSUM stores 0 - (byte sum of the range *including* the checksum
// byte), which yields a valid table only if that byte is 0 beforehand (QEMU zeroes it for the
// same reason). A loader script must therefore be:
//   ALLOCATE rsdp (align kAcpiRsdpAlign), ALLOCATE tables (align kAcpiTablesAlign),
//   one ADD_POINTER per `pointers` entry, in order,
//   one ADD_CHECKSUM per `checksums` entry, in order (the RSDP's 20-byte checksum precedes its
//   36-byte extended checksum, which covers it).
// ApplyAcpiFixups() does exactly that in-process: it yields the tables the guest will see (every
// checksum valid), for tests, dumps, and a firmware-less ACPI boot.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "acpi/acpi_platform.h"

namespace vmmd::acpi {

enum class AcpiBlob { kRsdp, kTables };

// Suggested fw_cfg file names (QEMU's) and ALLOCATE alignments.
inline constexpr std::string_view kAcpiRsdpFile = "etc/acpi/rsdp";
inline constexpr std::string_view kAcpiTablesFile = "etc/acpi/tables";
inline constexpr uint32_t kAcpiRsdpAlign = 16;
inline constexpr uint32_t kAcpiTablesAlign = 64;

// ADD_POINTER: the `size`-byte little-endian value at `offset` in `blob` is an offset into
// `pointee`; the loader adds pointee's base address to it.
struct AcpiPointerFixup {
  AcpiBlob blob;
  uint32_t offset;
  uint8_t size;  // 4 or 8
  AcpiBlob pointee;
};

// ADD_CHECKSUM: blob[checksum_offset] = 0 - sum(blob[start, start + length)).
struct AcpiChecksumFixup {
  AcpiBlob blob;
  uint32_t start;
  uint32_t length;
  uint32_t checksum_offset;
};

// Where each table sits in the kTables blob.
struct AcpiTableLocation {
  std::string signature;  // "DSDT", "FACP", "APIC", "GTDT", "SPCR", "PPTT", "XSDT"
  uint32_t offset;
  uint32_t length;
};

struct AcpiTables {
  std::vector<uint8_t> rsdp;
  std::vector<uint8_t> tables;
  std::vector<AcpiPointerFixup> pointers;
  std::vector<AcpiChecksumFixup> checksums;
  std::vector<AcpiTableLocation> locations;
};

// INVALID_ARGUMENT if the platform does not validate (see ValidateAcpiPlatform); a DSDT
// device's own error is returned as is.
absl::StatusOr<AcpiTables> BuildAcpiTables(const AcpiPlatform& platform);

// The two blobs as the guest sees them once the loader has placed kRsdp at `rsdp_address` and
// kTables at `tables_address`.
struct AcpiImages {
  std::vector<uint8_t> rsdp;
  std::vector<uint8_t> tables;
};

// Runs the loader script (pointers, then checksums) with edk2's checks: INVALID_ARGUMENT for a
// pointer or checksum range outside its blob, a pointer value not inside the pointee blob, or a
// relocated value that does not fit the pointer's size.
absl::StatusOr<AcpiImages> ApplyAcpiFixups(const AcpiTables& tables, uint64_t rsdp_address,
                                           uint64_t tables_address);

}  // namespace vmmd::acpi
