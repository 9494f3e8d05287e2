#include "acpi/acpi_tables.h"

#include <string_view>

#include "absl/strings/str_format.h"
#include "acpi/tables/dsdt.h"
#include "acpi/tables/fadt.h"
#include "acpi/tables/gtdt.h"
#include "acpi/tables/madt.h"
#include "acpi/tables/pptt.h"
#include "acpi/tables/rsdp.h"
#include "acpi/tables/spcr.h"
#include "acpi/tables/table_writer.h"
#include "acpi/tables/xsdt.h"
#include "core/common/status_macros.h"

namespace vmmd::acpi {
namespace {

constexpr size_t kTableAlign = 8;

// Appends `table` at the next 8-byte boundary; returns its offset.
uint32_t Place(AcpiTables& out, std::string_view signature, std::vector<uint8_t> table) {
  out.tables.resize((out.tables.size() + kTableAlign - 1) / kTableAlign * kTableAlign, 0);
  const auto offset = static_cast<uint32_t>(out.tables.size());
  const auto length = static_cast<uint32_t>(table.size());
  out.tables.insert(out.tables.end(), table.begin(), table.end());
  out.locations.push_back({std::string(signature), offset, length});
  out.checksums.push_back(
      {AcpiBlob::kTables, offset, length, offset + static_cast<uint32_t>(kTableChecksumOffset)});
  return offset;
}

std::vector<uint8_t>& BlobOf(AcpiImages& images, AcpiBlob blob) {
  return blob == AcpiBlob::kRsdp ? images.rsdp : images.tables;
}

}  // namespace

absl::StatusOr<AcpiTables> BuildAcpiTables(const AcpiPlatform& platform) {
  VMMD_RETURN_IF_ERROR(ValidateAcpiPlatform(platform));
  AcpiTables out;

  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> dsdt, BuildDsdt(platform.dsdt_devices));
  const uint32_t dsdt_offset = Place(out, "DSDT", std::move(dsdt));

  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> fadt, BuildFadt(dsdt_offset));
  const uint32_t fadt_offset = Place(out, "FACP", std::move(fadt));
  out.pointers.push_back({AcpiBlob::kTables, fadt_offset + static_cast<uint32_t>(kFadtXDsdtOffset),
                          8, AcpiBlob::kTables});

  std::vector<uint64_t> xsdt_entries{fadt_offset};
  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> madt, BuildMadt(platform));
  xsdt_entries.push_back(Place(out, "APIC", std::move(madt)));
  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> gtdt, BuildGtdt(platform.timers));
  xsdt_entries.push_back(Place(out, "GTDT", std::move(gtdt)));
  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> spcr, BuildSpcr(platform.console));
  xsdt_entries.push_back(Place(out, "SPCR", std::move(spcr)));
  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> pptt,
                        BuildPptt(static_cast<uint32_t>(platform.cpus.size())));
  xsdt_entries.push_back(Place(out, "PPTT", std::move(pptt)));

  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> xsdt, BuildXsdt(xsdt_entries));
  const uint32_t xsdt_offset = Place(out, "XSDT", std::move(xsdt));
  for (size_t i = 0; i < xsdt_entries.size(); ++i) {
    out.pointers.push_back({AcpiBlob::kTables,
                            xsdt_offset + static_cast<uint32_t>(XsdtEntryOffset(i)), 8,
                            AcpiBlob::kTables});
  }

  out.rsdp = BuildRsdp(xsdt_offset);
  out.pointers.push_back(
      {AcpiBlob::kRsdp, static_cast<uint32_t>(kRsdpXsdtAddressOffset), 8, AcpiBlob::kTables});
  out.checksums.push_back({AcpiBlob::kRsdp, 0, static_cast<uint32_t>(kRsdpV1Length),
                           static_cast<uint32_t>(kRsdpChecksumOffset)});
  out.checksums.push_back({AcpiBlob::kRsdp, 0, static_cast<uint32_t>(kRsdpSize),
                           static_cast<uint32_t>(kRsdpExtendedChecksumOffset)});

  // The loader computes every checksum (see the header): leave the bytes zero.
  for (const AcpiChecksumFixup& c : out.checksums) {
    (c.blob == AcpiBlob::kRsdp ? out.rsdp : out.tables)[c.checksum_offset] = 0;
  }
  return out;
}

absl::StatusOr<AcpiImages> ApplyAcpiFixups(const AcpiTables& tables, uint64_t rsdp_address,
                                           uint64_t tables_address) {
  AcpiImages images{tables.rsdp, tables.tables};
  for (const AcpiPointerFixup& p : tables.pointers) {
    std::vector<uint8_t>& blob = BlobOf(images, p.blob);
    const size_t pointee_size = BlobOf(images, p.pointee).size();
    const uint64_t base = p.pointee == AcpiBlob::kRsdp ? rsdp_address : tables_address;
    if ((p.size != 1 && p.size != 2 && p.size != 4 && p.size != 8) || blob.size() < p.size ||
        blob.size() - p.size < p.offset) {
      return absl::InvalidArgumentError(
          absl::StrFormat("pointer fixup at %u (size %u) lies outside its blob of %u bytes",
                          p.offset, p.size, blob.size()));
    }
    const uint64_t value = ReadLe(blob, p.offset, p.size);
    if (value >= pointee_size) {
      return absl::InvalidArgumentError(
          absl::StrFormat("pointer at %u holds %u, outside its pointee blob of %u bytes", p.offset,
                          value, pointee_size));
    }
    const uint64_t relocated = value + base;
    if (relocated < base || (p.size < 8 && (relocated >> (8 * p.size)) != 0)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "relocated pointer 0x%x at %u does not fit %u bytes", relocated, p.offset, p.size));
    }
    WriteLe(absl::MakeSpan(blob), p.offset, p.size, relocated);
  }
  for (const AcpiChecksumFixup& c : tables.checksums) {
    std::vector<uint8_t>& blob = BlobOf(images, c.blob);
    if (blob.size() <= c.checksum_offset || blob.size() < c.length ||
        blob.size() - c.length < c.start) {
      return absl::InvalidArgumentError(
          absl::StrFormat("checksum fixup [%u, +%u) -> %u lies outside its blob of %u bytes",
                          c.start, c.length, c.checksum_offset, blob.size()));
    }
    // As edk2: the stored byte takes part in the sum.
    blob[c.checksum_offset] =
        static_cast<uint8_t>(-Sum8(absl::MakeConstSpan(blob).subspan(c.start, c.length)));
  }
  return images;
}

}  // namespace vmmd::acpi
