// What a VM's vCPU manager counts while its machine lives (the VM adds up its machines'): how
// long each phase of a hot-add or hot-remove took after the ScaleVCPUs request, and the guest's
// CPU_ON calls by verdict. Plain values; the manager's lock guards them.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "core/common/duration_histogram.h"

namespace vmmd::core {

// Phases of a hot-add (the guest took the event, registered the CPU, brought it online) and of a
// hot-remove (the vCPU is parked again).
enum class HotplugPhase { kTaken, kEnabled, kOnline, kParked };
inline constexpr HotplugPhase kHotplugPhases[] = {HotplugPhase::kTaken, HotplugPhase::kEnabled,
                                                  HotplugPhase::kOnline, HotplugPhase::kParked};
std::string_view HotplugPhaseName(HotplugPhase phase);  // "taken", "enabled", "online", "parked"

// The guest's PSCI CPU_ON calls by vmmd's answer.
struct CpuOnCounts {
  uint64_t granted = 0;           // SUCCESS
  uint64_t denied = 0;            // DENIED: not enabled, being removed, VM stopping
  uint64_t already_on = 0;        // ALREADY_ON
  uint64_t invalid_params = 0;    // INVALID_PARAMS: no such MPIDR
  uint64_t internal_failure = 0;  // INTERNAL_FAILURE: KVM refused to start it

  CpuOnCounts& operator+=(const CpuOnCounts& o) {
    granted += o.granted;
    denied += o.denied;
    already_on += o.already_on;
    invalid_params += o.invalid_params;
    internal_failure += o.internal_failure;
    return *this;
  }
};

struct VcpuStats {
  // By HotplugPhase: seconds from the request to the phase, per vCPU.
  std::array<DurationHistogram, 4> phases = {
      DurationHistogram(LatencyBoundsSeconds()), DurationHistogram(LatencyBoundsSeconds()),
      DurationHistogram(LatencyBoundsSeconds()), DurationHistogram(LatencyBoundsSeconds())};
  CpuOnCounts cpu_on;

  DurationHistogram& phase(HotplugPhase p) { return phases[static_cast<size_t>(p)]; }
  const DurationHistogram& phase(HotplugPhase p) const { return phases[static_cast<size_t>(p)]; }
  VcpuStats& operator+=(const VcpuStats& o) {
    for (size_t i = 0; i < phases.size(); ++i) phases[i].Merge(o.phases[i]);
    cpu_on += o.cpu_on;
    return *this;
  }
};

}  // namespace vmmd::core
