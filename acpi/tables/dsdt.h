// Differentiated System Description Table, revision 2 (64-bit integers): one `Scope (\_SB)`
// holding what every AmlDescribed device appends, in order.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "acpi/aml_described.h"

namespace vmmd::acpi {

inline constexpr uint8_t kDsdtRevision = 2;

// INVALID_ARGUMENT for a null device; a device's own error is returned as is.
absl::StatusOr<std::vector<uint8_t>> BuildDsdt(absl::Span<const AmlDescribed* const> devices);

}  // namespace vmmd::acpi
