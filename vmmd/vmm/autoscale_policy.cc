#include "vmmd/vmm/autoscale_policy.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "vmmd/vmm/vm_spec_validation.h"

namespace vmmd::vmm {
namespace {

constexpr absl::Duration kMaxWindow = absl::Hours(1);
constexpr uint32_t kMaxStep = 512;
constexpr size_t kMaxReason = 256;
constexpr size_t kMaxReporter = 128;

absl::Status CheckWindow(absl::Duration d, const char* prefix, const char* field) {
  if (d < absl::ZeroDuration() || d > kMaxWindow) {
    return absl::InvalidArgumentError(absl::StrFormat("%s.%s must be between 0 and 1 hour, got %s",
                                                      prefix, field, absl::FormatDuration(d)));
  }
  return absl::OkStatus();
}

bool Printable(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

const char* AutoscaleModeName(AutoscaleMode mode) {
  switch (mode) {
    case AutoscaleMode::kOff:
      return "off";
    case AutoscaleMode::kRecommend:
      return "recommend";
    case AutoscaleMode::kAuto:
      return "auto";
  }
  return "off";
}

absl::StatusOr<AutoscalePolicy> ResolveAutoscalePolicy(const AutoscalePolicy& in,
                                                       const VmSpec& spec, const char* field) {
  AutoscalePolicy p = in;
  const uint32_t max_possible = spec.max_vcpus == 0 ? spec.boot_vcpus : spec.max_vcpus;
  if (p.min_vcpus == 0) p.min_vcpus = spec.boot_vcpus;
  if (p.max_vcpus == 0) p.max_vcpus = max_possible;
  if (p.target_utilization == 0) p.target_utilization = kDefaultTargetUtilization;
  if (!p.tolerance) p.tolerance = kDefaultTolerance;
  if (!p.scale_up_stabilization) p.scale_up_stabilization = absl::ZeroDuration();
  if (!p.scale_down_stabilization) p.scale_down_stabilization = kDefaultScaleDownStabilization;
  if (p.scale_up_max_step == 0) p.scale_up_max_step = kDefaultScaleUpMaxStep;
  if (p.scale_down_max_step == 0) p.scale_down_max_step = kDefaultScaleDownMaxStep;
  if (!p.step_period) p.step_period = kDefaultStepPeriod;

  if (p.min_vcpus < spec.boot_vcpus) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s.min_vcpus (%u) must be at least boot_vcpus (%u): boot vCPUs cannot be "
                        "removed",
                        field, p.min_vcpus, spec.boot_vcpus));
  }
  if (p.max_vcpus > max_possible) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s.max_vcpus (%u) must be at most the VM's max_vcpus (%u)", field,
                        p.max_vcpus, max_possible));
  }
  if (p.min_vcpus > p.max_vcpus) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s.min_vcpus (%u) must not exceed %s.max_vcpus (%u)", field, p.min_vcpus,
                        field, p.max_vcpus));
  }
  if (!std::isfinite(p.target_utilization) || p.target_utilization < 0.05 ||
      p.target_utilization > 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s.target_utilization must be between 0.05 and 1, got %g", field, p.target_utilization));
  }
  if (!std::isfinite(*p.tolerance) || *p.tolerance < 0 || *p.tolerance >= 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s.tolerance must be at least 0 and below 1, got %g", field, *p.tolerance));
  }
  if (absl::Status s = CheckWindow(*p.scale_up_stabilization, field, "scale_up_stabilization");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckWindow(*p.scale_down_stabilization, field, "scale_down_stabilization");
      !s.ok()) {
    return s;
  }
  if (p.scale_up_max_step > kMaxStep || p.scale_down_max_step > kMaxStep) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s.scale_up_max_step and %s.scale_down_max_step must be 1 to %u", field, field, kMaxStep));
  }
  if (*p.step_period < absl::Seconds(1) || *p.step_period > kMaxWindow) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s.step_period must be between 1 s and 1 hour, got %s", field,
                        absl::FormatDuration(*p.step_period)));
  }
  if (p.mode == AutoscaleMode::kAuto && !CanHotplugVcpus(spec)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "VM %s boots with a device tree, so its vCPUs cannot be hot-plugged: autoscale mode "
        "AUTO needs boot_mode UEFI or ACPI_DIRECT (RECOMMEND works)",
        spec.name));
  }
  return p;
}

absl::Status ValidateAutoscaleStatus(const AutoscaleStatus& s, const AutoscalePolicy& policy,
                                     const VmSpec& spec) {
  if (policy.mode == AutoscaleMode::kOff) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "VM %s has autoscale mode OFF: set a policy before reporting a status", spec.name));
  }
  if (s.recommended_vcpus != 0 &&
      (s.recommended_vcpus < policy.min_vcpus || s.recommended_vcpus > policy.max_vcpus)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("status.recommended_vcpus (%u) must be 0 or within the policy's %u..%u",
                        s.recommended_vcpus, policy.min_vcpus, policy.max_vcpus));
  }
  if (!std::isfinite(s.utilization) || s.utilization < 0 || s.utilization > 1 ||
      !std::isfinite(s.steal) || s.steal < 0 || s.steal > 1) {
    return absl::InvalidArgumentError(
        "status.utilization and status.steal must be fractions between 0 and 1");
  }
  if (s.reason.size() > kMaxReason || !Printable(s.reason)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "status.reason must be at most %u bytes with no control characters", kMaxReason));
  }
  if (s.reporter.size() > kMaxReporter || !Printable(s.reporter)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "status.reporter must be at most %u bytes with no control characters", kMaxReporter));
  }
  if (s.last_scale_result.size() > kMaxReason || !Printable(s.last_scale_result)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "status.last_scale_result must be at most %u bytes with no control characters",
        kMaxReason));
  }
  const uint32_t max_possible = spec.max_vcpus == 0 ? spec.boot_vcpus : spec.max_vcpus;
  if (s.last_scale_from > max_possible || s.last_scale_to > max_possible) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "status.last_scale_from and last_scale_to must be at most max_vcpus (%u)", max_possible));
  }
  return absl::OkStatus();
}

}  // namespace vmmd::vmm
