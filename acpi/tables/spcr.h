// Serial Port Console Redirection table, revision 2 (Microsoft SPCR spec): 80 bytes, an ARM
// PL011 UART at the console base with 32-bit register access, GIC interrupt at the console GSIV,
// 9600 baud 8N1, no flow control, VT100, not a PCI device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "acpi/acpi_platform.h"

namespace vmmd::acpi {

inline constexpr uint8_t kSpcrRevision = 2;
inline constexpr size_t kSpcrSize = 80;

absl::StatusOr<std::vector<uint8_t>> BuildSpcr(const AcpiConsole& console);

}  // namespace vmmd::acpi
