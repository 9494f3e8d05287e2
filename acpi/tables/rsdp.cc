#include "acpi/tables/rsdp.h"

#include "acpi/tables/table_writer.h"

namespace vmmd::acpi {

std::vector<uint8_t> BuildRsdp(uint64_t xsdt_address) {
  std::vector<uint8_t> rsdp(kRsdpSize, 0);
  constexpr std::string_view kSignature = "RSD PTR ";
  for (size_t i = 0; i < kSignature.size(); ++i) rsdp[i] = static_cast<uint8_t>(kSignature[i]);
  for (size_t i = 0; i < kOemId.size(); ++i) rsdp[9 + i] = static_cast<uint8_t>(kOemId[i]);
  rsdp[15] = 2;                                     // Revision: ACPI 2.0+
  WriteLe(absl::MakeSpan(rsdp), 16, 4, 0);          // RsdtAddress: none
  WriteLe(absl::MakeSpan(rsdp), 20, 4, kRsdpSize);  // Length
  WriteLe(absl::MakeSpan(rsdp), kRsdpXsdtAddressOffset, 8, xsdt_address);
  SetChecksum(absl::MakeSpan(rsdp), 0, kRsdpV1Length, kRsdpChecksumOffset);
  SetChecksum(absl::MakeSpan(rsdp), 0, kRsdpSize, kRsdpExtendedChecksumOffset);
  return rsdp;
}

}  // namespace vmmd::acpi
