// Extended System Description Table, revision 1 (ACPI 6.5 section 5.2.8): one 64-bit address
// per table (every table but the DSDT, which the FADT points at).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace vmmd::acpi {

inline constexpr size_t XsdtEntryOffset(size_t index) { return 36 + 8 * index; }

absl::StatusOr<std::vector<uint8_t>> BuildXsdt(absl::Span<const uint64_t> table_addresses);

}  // namespace vmmd::acpi
