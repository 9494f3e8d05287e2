// Fixed ACPI Description Table, revision 6.5 (ACPI 6.5 section 5.2.9): 276 bytes, hardware-
// reduced (no PM/GPE/sleep registers), ARM boot flags PSCI_COMPLIANT | PSCI_USE_HVC, hypervisor
// vendor "VMMD", no FACS, the DSDT through X_DSDT only (the 32-bit DSDT field is 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace vmmd::acpi {

inline constexpr uint8_t kFadtRevision = 6;
inline constexpr uint8_t kFadtMinorRevision = 5;
inline constexpr size_t kFadtSize = 276;
inline constexpr size_t kFadtFlagsOffset = 112;
inline constexpr size_t kFadtArmBootArchOffset = 129;
inline constexpr size_t kFadtMinorRevisionOffset = 131;
inline constexpr size_t kFadtXDsdtOffset = 140;
inline constexpr size_t kFadtHypervisorVendorOffset = 268;
inline constexpr uint32_t kFadtFlagHwReducedAcpi = 1u << 20;
inline constexpr uint16_t kFadtArmPsciCompliant = 1u << 0;
inline constexpr uint16_t kFadtArmPsciUseHvc = 1u << 1;

absl::StatusOr<std::vector<uint8_t>> BuildFadt(uint64_t x_dsdt);

}  // namespace vmmd::acpi
