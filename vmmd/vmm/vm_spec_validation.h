// Validation of a VmSpec before anything is created: every rule returns the precise canonical
// code and a message that names the field and says what to fix.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "core/hypervisor/hypervisor.h"
#include "vmmd/vmm/vm_types.h"

namespace vmmd::vmm {

// vmmd's own ceiling on possible vCPUs per VM (GICv3 redistributor layout, ACPI tables).
inline constexpr uint32_t kMaxVcpusPerVm = 512;
inline constexpr uint64_t kMinMemoryMib = 64;
inline constexpr size_t kMaxCmdlineBytes = 2047;  // arm64 COMMAND_LINE_SIZE is 2048 with NUL

// Pure checks of the fields (no filesystem access). `host_memory_bytes` is the host's
// physical memory.
absl::Status ValidateVmSpecFields(const VmSpec& spec, const core::HostCapabilities& caps,
                                  uint64_t host_memory_bytes);

// The files the spec names exist and are readable regular files (NOT_FOUND /
// PERMISSION_DENIED / INVALID_ARGUMENT), and the console log's directory exists.
absl::Status CheckVmSpecFiles(const VmSpec& spec);

// max_vcpus with its default applied (0 means "same as boot_vcpus").
inline uint32_t EffectiveMaxVcpus(const VmSpec& spec) {
  return spec.max_vcpus == 0 ? spec.boot_vcpus : spec.max_vcpus;
}

// Physical memory of this host, in bytes.
uint64_t HostPhysicalMemoryBytes();

}  // namespace vmmd::vmm
