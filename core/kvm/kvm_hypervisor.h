// The KVM arm64 backend of the hypervisor seam. The only code that includes <linux/kvm.h> and
// issues KVM ioctls lives in core/kvm/. Built only for aarch64 (VMMD_KVM_ARM64).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/hypervisor/hypervisor.h"

namespace vmmd::core {

// Opens /dev/kvm (or `path`), checks the API version and the capabilities vmmd needs, and
// probes HostCapabilities. FAILED_PRECONDITION with a precise message if the host cannot run
// vmmd guests (no KVM, no GICv3, no PSCI 0.2, no SMCCC filter...).
absl::StatusOr<std::unique_ptr<Hypervisor>> OpenKvmHypervisor(const std::string& path = "/dev/kvm");

}  // namespace vmmd::core
