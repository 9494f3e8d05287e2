// What a VM counted since CreateVm, across every machine it ran: a stop and start or a guest
// reset keep adding up, DeleteVm ends them (a VM created again under the same name starts from
// zero). The metrics exporter reads them; nothing here knows Prometheus.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "core/vcpu/vcpu_manager.h"
#include "core/vcpu/vcpu_stats.h"
#include "vmmd/vmm/vm_state.h"

namespace vmmd::vmm {

// Which way a ScaleVCPUs request went.
enum class ScaleDirection { kAdd, kRemove, kNone };
inline constexpr ScaleDirection kScaleDirections[] = {ScaleDirection::kAdd, ScaleDirection::kRemove,
                                                      ScaleDirection::kNone};
std::string_view ScaleDirectionName(ScaleDirection d);  // "add", "remove", "none"

// How it ended: how the wait ended (core::ScaleOutcome), or rejected before anything changed
// (a bad target, a VM not running, a removal still in progress).
enum class ScaleResultKind {
  kOk,
  kDeadlineExceeded,
  kRefused,
  kUnsupported,
  kSuperseded,
  kStopped,
  kRejected
};
inline constexpr ScaleResultKind kScaleResultKinds[] = {
    ScaleResultKind::kOk,          ScaleResultKind::kDeadlineExceeded, ScaleResultKind::kRefused,
    ScaleResultKind::kUnsupported, ScaleResultKind::kSuperseded,       ScaleResultKind::kStopped,
    ScaleResultKind::kRejected};
std::string_view ScaleResultKindName(ScaleResultKind r);  // "ok", ..., "rejected"
ScaleResultKind ScaleResultKindOf(core::ScaleOutcome outcome);

inline constexpr VmState kVmStates[] = {VmState::kCreated,  VmState::kStarting, VmState::kRunning,
                                        VmState::kStopping, VmState::kStopped,  VmState::kFailed};

struct VmStats {
  core::VcpuStats vcpus;                  // hotplug phase durations, CPU_ON verdicts
  std::array<uint64_t, 6> transitions{};  // by the VmState entered
  uint64_t unmapped_mmio = 0;
  uint64_t exits = 0;  // every vCPU's exits from KVM_RUN
  uint64_t mmio_exits = 0;
  uint64_t hypercall_exits = 0;
  std::array<std::array<uint64_t, 7>, 3> scale_requests{};  // [direction][result]

  uint64_t& transitions_to(VmState s) { return transitions[static_cast<size_t>(s)]; }
  uint64_t transitions_to(VmState s) const { return transitions[static_cast<size_t>(s)]; }
  uint64_t& requests(ScaleDirection d, ScaleResultKind r) {
    return scale_requests[static_cast<size_t>(d)][static_cast<size_t>(r)];
  }
  uint64_t requests(ScaleDirection d, ScaleResultKind r) const {
    return scale_requests[static_cast<size_t>(d)][static_cast<size_t>(r)];
  }
};

}  // namespace vmmd::vmm
