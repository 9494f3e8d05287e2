#include "vmmd/vmm/vm_spec_validation.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "core/arch/aarch64/layout.h"
#include "core/common/errno_status.h"
#include "vmmd/vmm/board.h"

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

absl::Status CheckPathField(const std::string& value, const char* field, bool required) {
  if (value.empty()) {
    if (!required) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrFormat("%s is required", field));
  }
  if (value.front() != '/') {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s \"%s\" must be an absolute path on the vmmd host", field, value));
  }
  if (value.size() > 4095 || value.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrFormat("%s is not a valid path", field));
  }
  return absl::OkStatus();
}

absl::Status CheckReadableFile(const std::string& path, const char* field) {
  if (path.empty()) return absl::OkStatus();
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrFormat("%s %s", field, path));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrFormat("%s %s is not a regular file", field, path));
  }
  if (access(path.c_str(), R_OK) != 0) {
    return ErrnoStatus(errno, absl::StrFormat("%s %s", field, path));
  }
  if (st.st_size == 0) {
    return absl::InvalidArgumentError(absl::StrFormat("%s %s is empty", field, path));
  }
  return absl::OkStatus();
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
  if (absl::Status s = CheckPathField(spec.kernel_path, "kernel_path", true); !s.ok()) return s;
  if (absl::Status s = CheckPathField(spec.initrd_path, "initrd_path", false); !s.ok()) return s;
  if (absl::Status s = CheckPathField(spec.firmware_path, "firmware_path", false); !s.ok()) return s;
  if (absl::Status s = CheckPathField(spec.console_log_path, "console_log_path", false); !s.ok()) {
    return s;
  }
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

absl::Status CheckVmSpecFiles(const VmSpec& spec) {
  if (absl::Status s = CheckReadableFile(spec.kernel_path, "kernel_path"); !s.ok()) return s;
  if (absl::Status s = CheckReadableFile(spec.initrd_path, "initrd_path"); !s.ok()) return s;
  if (absl::Status s = CheckReadableFile(spec.firmware_path, "firmware_path"); !s.ok()) return s;
  if (!spec.firmware_path.empty()) {
    struct stat st {};
    if (stat(spec.firmware_path.c_str(), &st) == 0 &&
        static_cast<uint64_t>(st.st_size) > board::kFlash0.size) {
      return absl::InvalidArgumentError(
          absl::StrFormat("firmware_path %s is %d bytes; flash0 holds at most %u",
                          spec.firmware_path, st.st_size, board::kFlash0.size));
    }
  }
  if (!spec.console_log_path.empty()) {
    const size_t slash = spec.console_log_path.rfind('/');
    const std::string dir(spec.console_log_path, 0, slash == 0 ? 1 : slash);
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) {
      return ErrnoStatus(errno, absl::StrFormat("console_log_path directory %s", dir));
    }
    if (!S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("console_log_path: %s is not a directory", dir));
    }
  }
  return absl::OkStatus();
}

}  // namespace vmmd::vmm
