// The VM lifecycle state machine. Pure: NextVmState(state, event) is the next state or a refusal
// saying why, and Vm assigns nothing else to its state.
//
//   CREATED ─┐                         ┌─Booted──▶ RUNNING ─Halt─▶ STOPPING ─Halted──▶ STOPPED ─┐
//   STOPPED ─┼─Start─▶ STARTING ───────┤                                 └──Crashed─▶ FAILED ──┤
//   FAILED  ─┘                         └─BootFailed──────────────────────────────────▶ FAILED   │
//      ▲                                                                                        │
//      └───────────────────────────── Start again (also after a guest reset) ◀──────────────────┘
//
// Start: the API's StartVm, or the restart after a guest reset. Halt: StopVm, DeleteVm, a guest
// power-off, reset or crash, a failed vCPU. Halted / Crashed: the machine is gone, cleanly or
// because of a failure.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"

namespace vmmd::vmm {

enum class VmState { kCreated, kStarting, kRunning, kStopping, kStopped, kFailed };

enum class VmEvent { kStart, kBooted, kBootFailed, kHalt, kHalted, kCrashed };

// FAILED_PRECONDITION when the event is not allowed, with a message that reads after
// "VM <name> " ("is RUNNING; only a CREATED, STOPPED or FAILED VM can be started").
absl::StatusOr<VmState> NextVmState(VmState state, VmEvent event);

std::string_view VmStateName(VmState state);  // "CREATED", "RUNNING", ...
std::string_view VmEventName(VmEvent event);  // "Start", "Halt", ...

}  // namespace vmmd::vmm
