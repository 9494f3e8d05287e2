// A VM's autoscaling policy and the status an autoscaler reports for it. vmmd stores both (so
// they outlive any autoscaler and every client sees them); it never scales by itself. The
// rules mirror the Kubernetes HorizontalPodAutoscaler's `behavior`, applied to vCPUs.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vmmd/vmm/vm_types.h"

namespace vmmd::vmm {

const char* AutoscaleModeName(AutoscaleMode mode);  // "off", "recommend", "auto"

// The defaults (HPA's where it has one).
inline constexpr double kDefaultTargetUtilization = 0.7;
inline constexpr double kDefaultTolerance = 0.1;
inline constexpr absl::Duration kDefaultScaleDownStabilization = absl::Seconds(300);
inline constexpr uint32_t kDefaultScaleUpMaxStep = 4;
inline constexpr uint32_t kDefaultScaleDownMaxStep = 1;
inline constexpr absl::Duration kDefaultStepPeriod = absl::Seconds(15);

// `policy` with every unset field given its default, checked against the VM it is for (whose
// max_vcpus is already effective). INVALID_ARGUMENT names the first bad field as
// "<field>.<name>"; FAILED_PRECONDITION for AUTO on a VM that cannot hotplug vCPUs (no
// firmware).
absl::StatusOr<AutoscalePolicy> ResolveAutoscalePolicy(const AutoscalePolicy& policy,
                                                       const VmSpec& spec,
                                                       const char* field = "autoscale");

// Checks what an autoscaler reports for a VM under `policy` (INVALID_ARGUMENT names the field;
// FAILED_PRECONDITION when the policy is OFF).
absl::Status ValidateAutoscaleStatus(const AutoscaleStatus& status, const AutoscalePolicy& policy,
                                     const VmSpec& spec);

}  // namespace vmmd::vmm
