// Generic Timer Description Table, revision 3 (ACPI 6.5 section 5.2.25): 104 bytes, no
// memory-mapped counter (CntControlBase/CntReadBase all ones), no platform timers, the four
// architected timer PPIs level-triggered, active-high and always-on; no virtual EL2 timer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "acpi/acpi_platform.h"

namespace vmmd::acpi {

inline constexpr uint8_t kGtdtRevision = 3;
inline constexpr size_t kGtdtSize = 104;
inline constexpr uint32_t kGtdtTimerAlwaysOn = 1u << 2;

absl::StatusOr<std::vector<uint8_t>> BuildGtdt(const AcpiTimerGsivs& timers);

}  // namespace vmmd::acpi
