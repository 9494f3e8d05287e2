#include "core/vcpu/vcpu_state.h"

#include "absl/strings/str_format.h"

namespace vmmd::core {

std::string_view VcpuStateName(VcpuState state) {
  switch (state) {
    case VcpuState::kParked:
      return "PARKED";
    case VcpuState::kEnabling:
      return "ENABLING";
    case VcpuState::kEnabled:
      return "ENABLED";
    case VcpuState::kOnline:
      return "ONLINE";
    case VcpuState::kOffline:
      return "OFFLINE";
    case VcpuState::kRemoving:
      return "REMOVING";
  }
  return "UNKNOWN";
}

std::string_view VcpuEventName(VcpuEvent event) {
  switch (event) {
    case VcpuEvent::kPlug:
      return "Plug";
    case VcpuEvent::kRegistered:
      return "Registered";
    case VcpuEvent::kCpuOn:
      return "CpuOn";
    case VcpuEvent::kCpuOff:
      return "CpuOff";
    case VcpuEvent::kUnplug:
      return "Unplug";
    case VcpuEvent::kEjected:
      return "Ejected";
  }
  return "Unknown";
}

namespace {

absl::Status Refuse(VcpuState state, VcpuEvent event, std::string_view why) {
  return absl::FailedPreconditionError(absl::StrFormat(
      "vCPU event %s not allowed in state %s: %s", VcpuEventName(event), VcpuStateName(state), why));
}

absl::StatusOr<VcpuState> NextBootVcpuState(VcpuState state, VcpuEvent event) {
  switch (event) {
    case VcpuEvent::kPlug:
    case VcpuEvent::kRegistered:
      return state;  // boot vCPUs are always enabled
    case VcpuEvent::kCpuOn:
      if (state == VcpuState::kOffline) return VcpuState::kOnline;
      return Refuse(state, event, "already on");
    case VcpuEvent::kCpuOff:
      if (state == VcpuState::kOnline) return VcpuState::kOffline;
      return Refuse(state, event, "already off");
    case VcpuEvent::kUnplug:
    case VcpuEvent::kEjected:
      return Refuse(state, event, "boot vCPUs are permanent");
  }
  return Refuse(state, event, "unknown event");
}

}  // namespace

absl::StatusOr<VcpuState> NextVcpuState(VcpuState state, VcpuEvent event, const VcpuFacts& facts) {
  if (facts.boot) return NextBootVcpuState(state, event);
  switch (event) {
    case VcpuEvent::kPlug:
      if (state == VcpuState::kParked) return VcpuState::kEnabling;
      // Cancelling a removal the guest has not completed: back to what the CPU is.
      if (state == VcpuState::kRemoving) {
        return facts.powered_on ? VcpuState::kOnline : VcpuState::kOffline;
      }
      return state;  // already plugged: idempotent
    case VcpuEvent::kRegistered:
      if (state == VcpuState::kEnabling) return VcpuState::kEnabled;
      return state;  // a stray report changes nothing
    case VcpuEvent::kCpuOn:
      switch (state) {
        case VcpuState::kEnabling:  // guest raced ahead of its own scan acknowledgement
        case VcpuState::kEnabled:
        case VcpuState::kOffline:
          return VcpuState::kOnline;
        case VcpuState::kOnline:
          return Refuse(state, event, "already on");
        case VcpuState::kParked:
          return Refuse(state, event, "not enabled (parked)");
        case VcpuState::kRemoving:
          if (facts.powered_on) return Refuse(state, event, "already on");
          return Refuse(state, event, "being removed");
      }
      break;
    case VcpuEvent::kCpuOff:
      if (state == VcpuState::kOnline) return VcpuState::kOffline;
      if (state == VcpuState::kRemoving && facts.powered_on) return VcpuState::kRemoving;
      return Refuse(state, event, "not on");
    case VcpuEvent::kUnplug:
      switch (state) {
        case VcpuState::kParked:
          return state;  // already unplugged: idempotent
        case VcpuState::kEnabling:
          // Not taken yet: withdraw the offer. Taken: the guest may be registering it; eject.
          return facts.guest_took_insert ? VcpuState::kRemoving : VcpuState::kParked;
        case VcpuState::kEnabled:
        case VcpuState::kOnline:
        case VcpuState::kOffline:
        case VcpuState::kRemoving:
          return VcpuState::kRemoving;
      }
      break;
    case VcpuEvent::kEjected:
      if (state == VcpuState::kRemoving) return VcpuState::kParked;
      return Refuse(state, event, "no removal was requested");
  }
  return Refuse(state, event, "unknown state or event");
}

}  // namespace vmmd::core
