// Validation of a VmSpec before anything is created: every rule returns the precise canonical
// code and a message that names the field and says what to fix.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/common/confined_dir.h"
#include "core/hypervisor/hypervisor.h"
#include "core/net/tap.h"
#include "vmmd/vmm/vm_types.h"

namespace vmmd::vmm {

// vmmd's own ceiling on possible vCPUs per VM (GICv3 redistributor layout, ACPI tables).
inline constexpr uint32_t kMaxVcpusPerVm = 512;
inline constexpr uint64_t kMinMemoryMib = 64;
// Guest RAM per possible vCPU (max_vcpus), at least. Linux sets aside memory for every possible
// CPU while it boots (per-CPU areas and the structures sized by them); measured in the nested bed
// with Debian's 6.12 arm64 kernel and the test initramfs on an ACPI direct boot: 2 MiB per
// possible vCPU boots (256 in 512 MiB, 384 in 768, 512 in 1024), 1.8 boots slowly (288 in 512),
// 1.3 and 1 never reach userspace (384 or 512 in 512 MiB: the kernel stalls before its console
// is up, through UEFI too). A spec below it is refused instead of hanging silently.
inline constexpr uint64_t kMinMemoryMibPerPossibleVcpu = 2;
inline constexpr size_t kMaxCmdlineBytes = 2047;  // arm64 COMMAND_LINE_SIZE is 2048 with NUL
inline constexpr size_t kMaxPathBytes = 4095;     // PATH_MAX with its NUL
inline constexpr size_t kMaxDisks = 8;
inline constexpr size_t kMaxDiskSerialBytes = 20;  // VIRTIO_BLK_ID_BYTES

// Pure checks of the fields (no filesystem access). `host_memory_bytes` is the host's
// physical memory.
absl::Status ValidateVmSpecFields(const VmSpec& spec, const core::HostCapabilities& caps,
                                  uint64_t host_memory_bytes);

// The files a spec names, open for reading (confined_dir.h): every read of a guest's kernel,
// initrd and firmware goes through these fds.
struct VmSpecFiles {
  // Absent only with a firmware that boots from a disk (no kernel_path).
  std::optional<ConfinedFile> kernel;
  std::optional<ConfinedFile> initrd;
  std::optional<ConfinedFile> firmware;
  // One per spec disk, in order: open read-write (read-only for a read_only disk) and locked
  // (flock: exclusive for read-write, shared for read-only) for as long as the fd is open.
  std::vector<ConfinedFile> disks;
  // One per spec NIC, in order: attached to its TAP (no other process can attach while open).
  std::vector<std::unique_ptr<core::net::Tap>> taps;
};

// Opens kernel_path, initrd_path and firmware_path under `image_dirs` (ConfinedDirs::OpenFile:
// INVALID_ARGUMENT for a relative or non-canonical path or one that is not a regular file,
// PERMISSION_DENIED outside the directories, through a symbolic link or unreadable, NOT_FOUND
// if missing), then checks what the boot needs: INVALID_ARGUMENT for an empty file or a
// firmware larger than flash0. CreateVm calls it to validate, every StartVm to boot.
// NICs: attached to their TAPs (core/net/tap.h: NOT_FOUND for a missing interface,
// FAILED_PRECONDITION when another VM or process is attached, INVALID_ARGUMENT for one that is
// not a TAP, PERMISSION_DENIED when vmmd may not), each message naming nics[i].tap.
// Disks: opened read-write unless read_only (PERMISSION_DENIED when vmmd may not), at least one
// 512-byte sector (else INVALID_ARGUMENT), and locked: FAILED_PRECONDITION when another VM or
// process holds a lock that conflicts (a disk is writable by one VM at a time; read-only
// sharing is fine).
absl::StatusOr<VmSpecFiles> OpenVmSpecFiles(const VmSpec& spec, const ConfinedDirs& image_dirs);

// max_vcpus with its default applied (0 means "same as boot_vcpus").
inline uint32_t EffectiveMaxVcpus(const VmSpec& spec) {
  return spec.max_vcpus == 0 ? spec.boot_vcpus : spec.max_vcpus;
}

// start_vcpus with its default applied (0 means "same as boot_vcpus").
inline uint32_t EffectiveStartVcpus(const VmSpec& spec) {
  return spec.start_vcpus == 0 ? spec.boot_vcpus : spec.start_vcpus;
}

// The boot mode with its default applied (kUefi with a firmware_path, else kDeviceTree).
inline BootMode EffectiveBootMode(const VmSpec& spec) {
  if (spec.boot_mode != BootMode::kUnspecified) return spec.boot_mode;
  return spec.firmware_path.empty() ? BootMode::kDeviceTree : BootMode::kUefi;
}

// Whether the guest is told about CPUs that may come later (ACPI): a UEFI or ACPI direct boot.
inline bool CanHotplugVcpus(const VmSpec& spec) {
  return EffectiveBootMode(spec) != BootMode::kDeviceTree;
}

// Physical memory of this host, in bytes.
uint64_t HostPhysicalMemoryBytes();

}  // namespace vmmd::vmm
