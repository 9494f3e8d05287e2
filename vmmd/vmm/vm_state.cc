#include "vmmd/vmm/vm_state.h"

#include "absl/strings/str_format.h"

namespace vmmd::vmm {

std::string_view VmStateName(VmState state) {
  switch (state) {
    case VmState::kCreated:
      return "CREATED";
    case VmState::kStarting:
      return "STARTING";
    case VmState::kRunning:
      return "RUNNING";
    case VmState::kStopping:
      return "STOPPING";
    case VmState::kStopped:
      return "STOPPED";
    case VmState::kFailed:
      return "FAILED";
  }
  return "UNKNOWN";
}

std::string_view VmEventName(VmEvent event) {
  switch (event) {
    case VmEvent::kStart:
      return "Start";
    case VmEvent::kBooted:
      return "Booted";
    case VmEvent::kBootFailed:
      return "BootFailed";
    case VmEvent::kHalt:
      return "Halt";
    case VmEvent::kHalted:
      return "Halted";
    case VmEvent::kCrashed:
      return "Crashed";
  }
  return "Unknown";
}

absl::StatusOr<VmState> NextVmState(VmState state, VmEvent event) {
  auto refuse = [&](std::string_view why) {
    return absl::FailedPreconditionError(absl::StrFormat("is %s; %s", VmStateName(state), why));
  };
  switch (event) {
    case VmEvent::kStart:
      if (state == VmState::kCreated || state == VmState::kStopped || state == VmState::kFailed) {
        return VmState::kStarting;
      }
      return refuse("only a CREATED, STOPPED or FAILED VM can be started");
    case VmEvent::kBooted:
      if (state == VmState::kStarting) return VmState::kRunning;
      return refuse("only a STARTING VM can finish booting");
    case VmEvent::kBootFailed:
      if (state == VmState::kStarting) return VmState::kFailed;
      return refuse("only a STARTING VM can fail to boot");
    case VmEvent::kHalt:
      if (state == VmState::kRunning) return VmState::kStopping;
      return refuse("only a RUNNING VM can be stopped");
    case VmEvent::kHalted:
      if (state == VmState::kStopping) return VmState::kStopped;
      return refuse("only a STOPPING VM can finish stopping");
    case VmEvent::kCrashed:
      if (state == VmState::kStopping) return VmState::kFailed;
      return refuse("only a STOPPING VM can end failed");
  }
  return refuse("unknown event");
}

}  // namespace vmmd::vmm
