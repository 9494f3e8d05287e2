// KVM_SET_DEVICE_ATTR, the one call behind every attribute vmmd sets: on a device fd (the
// vGIC), on the VM fd (the SMCCC filter) and on a vCPU fd (timer PPIs, PMU). Internal to
// core/kvm.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"

namespace vmmd::core::kvm {

// Sets attribute `attr` of group `group` on `fd` from `value` (may be null for a pure control,
// e.g. CTRL_INIT). Errors are the errno's code with `what` in the message.
absl::Status SetDeviceAttr(int fd, uint32_t group, uint64_t attr, const void* value,
                           std::string_view what);

}  // namespace vmmd::core::kvm
