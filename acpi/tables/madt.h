// Multiple APIC Description Table, revision 5 (ACPI 6.5 section 5.2.12) for GICv3:
//   GICD (type 0xC, 24 bytes); one GICC (type 0xB, 80 bytes, the ACPI 6.3 layout) per possible
//   vCPU in vCPU-id order; one GICR (type 0xE, 16 bytes) per redistributor region.
// GICC: CPU interface number = ACPI Processor UID = index; flags Enabled for boot vCPUs,
// Online-Capable (Enabled clear) for the others (Linux Documentation/arch/arm64/
// cpu-hotplug.rst); GICR base 0 (redistributors come from the always-on GICR entries);
// performance interrupt = the PMU PPI if a PMU is exposed, else 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "acpi/acpi_platform.h"

namespace vmmd::acpi {

inline constexpr uint8_t kMadtRevision = 5;
inline constexpr size_t kMadtGicdSize = 24;
inline constexpr size_t kMadtGiccSize = 80;
inline constexpr size_t kMadtGicrSize = 16;
inline constexpr uint32_t kGiccFlagEnabled = 1u << 0;
inline constexpr uint32_t kGiccFlagOnlineCapable = 1u << 3;

// The platform must have passed ValidateAcpiPlatform().
absl::StatusOr<std::vector<uint8_t>> BuildMadt(const AcpiPlatform& platform);

}  // namespace vmmd::acpi
