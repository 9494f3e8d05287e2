#include "vmmd/vmm/vm_spec_validation.h"

#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "core/arch/aarch64/layout.h"
#include "core/common/bounded_echo.h"
#include "core/common/errno_status.h"
#include "core/common/status_macros.h"
#include "vmmd/vmm/board.h"
#include "vmmd/vmm/nic_spec.h"

namespace vmmd::vmm {
namespace {

// A DNS label (RFC 1123), as Kubernetes names: 1-63 of [a-z0-9-], alphanumeric at both ends.
bool IsDnsLabel(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) return false;
  }
  return name.front() != '-' && name.back() != '-';
}

// Syntax only: the image directories decide the rest when the file is opened.
absl::Status CheckPathField(const std::string& value, const char* field, bool required) {
  if (value.empty()) {
    if (!required) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrFormat("%s is required", field));
  }
  if (value.size() > kMaxPathBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s \"%s\" is %u bytes; a path has at most %u", field, BoundedEcho(value),
                        value.size(), kMaxPathBytes));
  }
  return CheckCanonicalPath(value, field);
}

absl::StatusOr<std::optional<ConfinedFile>> OpenSpecFile(const std::string& path, const char* field,
                                                         const ConfinedDirs& image_dirs) {
  if (path.empty()) return std::nullopt;
  absl::StatusOr<ConfinedFile> file = image_dirs.OpenFile(path, field);
  if (!file.ok()) return file.status();
  if (file->size == 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s \"%s\" is empty", field, BoundedEcho(path)));
  }
  return std::optional<ConfinedFile>(std::move(*file));
}

absl::StatusOr<ConfinedFile> OpenDisk(const DiskSpec& disk, size_t index,
                                      const ConfinedDirs& image_dirs) {
  const std::string field = absl::StrFormat("disks[%u].path", index);
  absl::StatusOr<ConfinedFile> file = image_dirs.OpenFile(
      disk.path, field, disk.read_only ? FileAccess::kRead : FileAccess::kReadWrite,
      FileKind::kRegularOrBlockDevice);
  if (!file.ok()) return file.status();
  if (file->size < 512) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s \"%s\" is %u bytes; a disk image holds at least one 512-byte sector",
                        field, BoundedEcho(disk.path), file->size));
  }
  // Released when the fd closes (the machine closes it when the VM stops).
  if (flock(file->fd.get(), (disk.read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s \"%s\" is in use by another VM or process%s: a disk image is writable by one VM "
          "at a time (stop the other VM, or make every user read_only)",
          field, BoundedEcho(disk.path), disk.read_only ? " that writes it" : ""));
    }
    return ErrnoStatus(errno, absl::StrFormat("lock %s", field));
  }
  return file;
}

}  // namespace

uint64_t HostPhysicalMemoryBytes() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size);
}

absl::Status ValidateVmSpecFields(const VmSpec& spec, const core::HostCapabilities& caps,
                                  uint64_t host_memory_bytes) {
  if (spec.name.empty()) return absl::InvalidArgumentError("name is required");
  if (!IsDnsLabel(spec.name)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "name \"%s\" is not valid: use 1-63 lowercase letters, digits and '-', starting and "
        "ending with a letter or digit",
        absl::CHexEscape(spec.name.substr(0, 80))));
  }
  switch (spec.boot_mode) {
    case BootMode::kUnspecified:
      break;
    case BootMode::kUefi:
      if (spec.firmware_path.empty()) {
        return absl::InvalidArgumentError("boot_mode UEFI needs a firmware_path");
      }
      break;
    case BootMode::kDeviceTree:
    case BootMode::kAcpiDirect:
      if (!spec.firmware_path.empty()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "boot_mode %s boots the kernel without firmware: leave firmware_path empty (or use "
            "boot_mode UEFI)",
            spec.boot_mode == BootMode::kDeviceTree ? "DEVICE_TREE" : "ACPI_DIRECT"));
      }
      break;
    default:
      return absl::InvalidArgumentError(absl::StrFormat(
          "boot_mode %d is not a boot mode (DEVICE_TREE 1, UEFI 2, ACPI_DIRECT 3, or unset)",
          static_cast<int>(spec.boot_mode)));
  }
  // With a firmware, no kernel means the firmware boots from a disk (its boot loader).
  if (spec.kernel_path.empty() && spec.firmware_path.empty()) {
    return absl::InvalidArgumentError(
        "kernel_path is required (only a VM with a firmware_path can boot without one, from a "
        "disk)");
  }
  if (absl::Status s = CheckPathField(spec.kernel_path, "kernel_path", false); !s.ok()) return s;
  if (spec.kernel_path.empty() && (!spec.initrd_path.empty() || !spec.cmdline.empty())) {
    return absl::InvalidArgumentError(
        "initrd_path and cmdline need a kernel_path: a VM that boots from a disk gets them from "
        "its boot loader");
  }
  if (spec.kernel_path.empty() && spec.disks.empty()) {
    return absl::InvalidArgumentError(
        "without a kernel_path the firmware boots from a disk: give the VM one (disks)");
  }
  if (absl::Status s = CheckPathField(spec.initrd_path, "initrd_path", false); !s.ok()) return s;
  if (absl::Status s = CheckPathField(spec.firmware_path, "firmware_path", false); !s.ok())
    return s;
  if (spec.disks.size() > kMaxDisks) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%u disks; a VM has at most %u", spec.disks.size(), kMaxDisks));
  }
  for (size_t i = 0; i < spec.disks.size(); ++i) {
    const DiskSpec& d = spec.disks[i];
    const std::string field = absl::StrFormat("disks[%u].path", i);
    if (absl::Status s = CheckPathField(d.path, field.c_str(), true); !s.ok()) return s;
    for (size_t j = 0; j < i; ++j) {
      if (spec.disks[j].path == d.path) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "disks[%u] and disks[%u] name the same image \"%s\": give each disk its own file", j, i,
            BoundedEcho(d.path)));
      }
    }
    if (d.serial.size() > kMaxDiskSerialBytes) {
      return absl::InvalidArgumentError(
          absl::StrFormat("disks[%u].serial is %u bytes; a virtio-blk ID has at most %u", i,
                          d.serial.size(), kMaxDiskSerialBytes));
    }
    for (char c : d.serial) {
      if (c < 0x21 || c > 0x7e) {
        return absl::InvalidArgumentError(
            absl::StrFormat("disks[%u].serial \"%s\" must be printable ASCII without spaces", i,
                            absl::CHexEscape(d.serial)));
      }
    }
  }
  if (absl::Status s = ValidateNics(spec); !s.ok()) return s;
  if (spec.cmdline.size() > kMaxCmdlineBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cmdline is %u bytes; the arm64 kernel accepts at most %u", spec.cmdline.size(),
        kMaxCmdlineBytes));
  }
  if (spec.cmdline.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("cmdline must not contain NUL bytes");
  }

  if (spec.boot_vcpus == 0) return absl::InvalidArgumentError("vcpus (boot vCPUs) must be at least 1");
  const uint32_t max_vcpus = EffectiveMaxVcpus(spec);
  if (max_vcpus < spec.boot_vcpus) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "max_vcpus (%u) must be >= vcpus (%u)", max_vcpus, spec.boot_vcpus));
  }
  if (spec.start_vcpus != 0) {
    if (spec.start_vcpus < spec.boot_vcpus) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "start_vcpus (%u) must be >= vcpus (%u): the boot vCPUs are always available",
          spec.start_vcpus, spec.boot_vcpus));
    }
    if (spec.start_vcpus > max_vcpus) {
      return absl::InvalidArgumentError(
          absl::StrFormat("start_vcpus (%u) exceeds max_vcpus (%u)", spec.start_vcpus, max_vcpus));
    }
    if (spec.start_vcpus > spec.boot_vcpus && !CanHotplugVcpus(spec)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "start_vcpus (%u) above vcpus (%u) needs an ACPI boot (boot_mode UEFI or ACPI_DIRECT): "
          "a device-tree boot cannot add vCPUs; give vcpus %u instead",
          spec.start_vcpus, spec.boot_vcpus, spec.start_vcpus));
    }
  }
  const uint32_t host_limit = caps.max_vcpus < kMaxVcpusPerVm ? caps.max_vcpus : kMaxVcpusPerVm;
  if (max_vcpus > host_limit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "max_vcpus (%u) exceeds the %u vCPUs per VM that this host's KVM allows", max_vcpus,
        host_limit));
  }

  if (spec.memory_mib < kMinMemoryMib) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "memory_mib (%u) must be at least %u", spec.memory_mib, kMinMemoryMib));
  }
  if (spec.memory_mib < kMinMemoryMibPerPossibleVcpu * max_vcpus) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "memory_mib (%u) is too small for max_vcpus %u: a Linux guest sets aside memory for "
        "every possible vCPU while it boots and stalls without enough; give at least %u MiB "
        "(%u MiB per possible vCPU) or a smaller max_vcpus",
        spec.memory_mib, max_vcpus, kMinMemoryMibPerPossibleVcpu * max_vcpus,
        kMinMemoryMibPerPossibleVcpu));
  }
  const uint64_t max_mib = core::aarch64::kMaxRamSize >> 20;
  if (spec.memory_mib > max_mib) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "memory_mib (%u) exceeds the guest RAM limit of %u MiB", spec.memory_mib, max_mib));
  }
  const uint64_t host_mib = host_memory_bytes >> 20;
  if (spec.memory_mib > host_mib) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "memory_mib (%u) exceeds this host's physical memory (%u MiB)", spec.memory_mib, host_mib));
  }
  return absl::OkStatus();
}

absl::StatusOr<VmSpecFiles> OpenVmSpecFiles(const VmSpec& spec, const ConfinedDirs& image_dirs) {
  VmSpecFiles files;
  VMMD_ASSIGN_OR_RETURN(files.kernel, OpenSpecFile(spec.kernel_path, "kernel_path", image_dirs));
  if (!files.kernel.has_value() && spec.firmware_path.empty()) {
    return absl::InvalidArgumentError("kernel_path is required");
  }
  VMMD_ASSIGN_OR_RETURN(files.initrd, OpenSpecFile(spec.initrd_path, "initrd_path", image_dirs));
  VMMD_ASSIGN_OR_RETURN(files.firmware,
                        OpenSpecFile(spec.firmware_path, "firmware_path", image_dirs));
  if (files.firmware.has_value() && files.firmware->size > board::kFlash0.size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "firmware_path \"%s\" is %u bytes; flash0 holds at most %u",
        BoundedEcho(spec.firmware_path), files.firmware->size, board::kFlash0.size));
  }
  for (size_t i = 0; i < spec.disks.size(); ++i) {
    VMMD_ASSIGN_OR_RETURN(ConfinedFile disk, OpenDisk(spec.disks[i], i, image_dirs));
    files.disks.push_back(std::move(disk));
  }
  for (size_t i = 0; i < spec.nics.size(); ++i) {
    absl::StatusOr<std::unique_ptr<core::net::Tap>> tap = core::net::Tap::Open(spec.nics[i].tap);
    if (!tap.ok()) {
      return absl::Status(tap.status().code(),
                          absl::StrFormat("nics[%u].tap: %s", i, tap.status().message()));
    }
    files.taps.push_back(*std::move(tap));
  }
  return files;
}

}  // namespace vmmd::vmm
