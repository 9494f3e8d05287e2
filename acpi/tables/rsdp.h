// Root System Description Pointer, revision 2 (ACPI 6.5 section 5.2.5.3): 36 bytes, pointing at
// the XSDT only (RsdtAddress 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vmmd::acpi {

inline constexpr size_t kRsdpSize = 36;
inline constexpr size_t kRsdpChecksumOffset = 8;  // over the first kRsdpV1Length bytes
inline constexpr size_t kRsdpV1Length = 20;
inline constexpr size_t kRsdpXsdtAddressOffset = 24;
inline constexpr size_t kRsdpExtendedChecksumOffset = 32;  // over all kRsdpSize bytes

// Both checksums are valid for the given `xsdt_address`.
std::vector<uint8_t> BuildRsdp(uint64_t xsdt_address);

}  // namespace vmmd::acpi
