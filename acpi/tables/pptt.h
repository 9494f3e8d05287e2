// Processor Properties Topology Table, revision 2 (ACPI 6.5 section 5.2.30): one physical
// package node, then one leaf processor node per possible vCPU (ACPI Processor ID valid, ID =
// the vCPU's UID) whose parent is the package. No caches, no clusters, no threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace vmmd::acpi {

inline constexpr uint8_t kPpttRevision = 2;
inline constexpr size_t kPpttNodeSize = 20;
inline constexpr uint32_t kPpttPhysicalPackage = 1u << 0;
inline constexpr uint32_t kPpttProcessorIdValid = 1u << 1;
inline constexpr uint32_t kPpttLeaf = 1u << 3;

absl::StatusOr<std::vector<uint8_t>> BuildPptt(uint32_t cpu_count);

}  // namespace vmmd::acpi
