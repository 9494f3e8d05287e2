#include "core/vcpu/vcpu_state.h"

#include "absl/strings/str_format.h"
#include "core/vcpu/vcpu_stats.h"

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

std::string_view VcpuStepName(VcpuStep step) {
  switch (step) {
    case VcpuStep::kNone:
      return "none";
    case VcpuStep::kOffered:
      return "offered";
    case VcpuStep::kInsertSeen:
      return "insert seen";
    case VcpuStep::kTaken:
      return "taken";
    case VcpuStep::kRegistered:
      return "registered";
    case VcpuStep::kUnsupported:
      return "unsupported";
    case VcpuStep::kEjectRequested:
      return "eject requested";
    case VcpuStep::kEjectSeen:
      return "eject seen";
    case VcpuStep::kEjectTaken:
      return "eject taken";
    case VcpuStep::kRefused:
      return "refused";
    case VcpuStep::kUnseen:
      return "unseen";
  }
  return "unknown";
}

std::string_view VcpuEventName(VcpuEvent event) {
  switch (event) {
    case VcpuEvent::kPlug:
      return "Plug";
    case VcpuEvent::kUnplug:
      return "Unplug";
    case VcpuEvent::kInsertTaken:
      return "InsertTaken";
    case VcpuEvent::kRemoveTaken:
      return "RemoveTaken";
    case VcpuEvent::kOst:
      return "Ost";
    case VcpuEvent::kCpuOn:
      return "CpuOn";
    case VcpuEvent::kCpuOff:
      return "CpuOff";
    case VcpuEvent::kEjected:
      return "Ejected";
    case VcpuEvent::kGraceExpired:
      return "GraceExpired";
    case VcpuEvent::kStatusRead:
      return "StatusRead";
  }
  return "Unknown";
}

std::string_view HotplugPhaseName(HotplugPhase phase) {
  switch (phase) {
    case HotplugPhase::kTaken:
      return "taken";
    case HotplugPhase::kEnabled:
      return "enabled";
    case HotplugPhase::kOnline:
      return "online";
    case HotplugPhase::kParked:
      return "parked";
  }
  return "unknown";
}

bool OstFailed(uint32_t event, uint32_t status) {
  if (status == kOstSuccess) return false;
  if (status == 1 || status == 2) return true;  // non-specific failure, unrecognised notify
  if (event == kOstDeviceCheck) return true;    // the hot-add did not happen
  const bool eject = event == kOstEjectRequest || event == kOstEjectProcessing;
  return eject && status >= 0x80 && status <= 0x83;
}

VcpuLife InitialVcpuLife(bool boot, absl::Time now, bool plugged) {
  VcpuLife life;
  life.boot = boot;
  life.state = boot ? VcpuState::kOffline : plugged ? VcpuState::kEnabled : VcpuState::kParked;
  if (!boot && plugged) {
    life.step = VcpuStep::kUnseen;
    life.step_at = now;
  }
  life.since = now;
  return life;
}

namespace {

absl::Status Refuse(const VcpuLife& life, VcpuEvent event, std::string_view why) {
  return absl::FailedPreconditionError(absl::StrFormat("vCPU event %s not allowed in state %s: %s",
                                                       VcpuEventName(event),
                                                       VcpuStateName(life.state), why));
}

// Transitions that move the public state record when they did.
VcpuLife Enter(VcpuLife life, VcpuState state, absl::Time now) {
  if (life.state != state) {
    life.state = state;
    life.since = now;
  }
  return life;
}

VcpuLife Step(VcpuLife life, VcpuStep step, absl::Time now) {
  life.step = step;
  life.step_at = now;
  return life;
}

// A hot-add is complete once the vCPU runs; a hot-remove once it is parked.
VcpuLife Settle(VcpuLife life) {
  if ((life.change == VcpuChange::kAdd && life.state == VcpuState::kOnline) ||
      (life.change == VcpuChange::kRemove && life.state == VcpuState::kParked)) {
    life.change = VcpuChange::kNone;
  }
  return life;
}

absl::StatusOr<VcpuLife> PowerOn(const VcpuLife& life, const VcpuInput& in) {
  if (life.powered) return Refuse(life, in.event, "already on");
  if (AwaitingGuestAcpi(life)) {
    return Refuse(life, in.event, "the guest's ACPI has not seen it yet (early boot)");
  }
  switch (life.state) {
    case VcpuState::kEnabling:  // the guest raced ahead of its own registration
    case VcpuState::kEnabled:
    case VcpuState::kOffline: {
      VcpuLife next = Enter(life, VcpuState::kOnline, in.now);
      next.powered = true;
      // A guest that runs a hot-added CPU took it after all, however late it reports.
      if (next.step == VcpuStep::kUnsupported) next = Step(next, VcpuStep::kTaken, in.now);
      return Settle(next);
    }
    case VcpuState::kParked:
      return Refuse(life, in.event, "not enabled (parked)");
    case VcpuState::kRemoving:
      return Refuse(life, in.event, "being removed");
    case VcpuState::kOnline:
      break;
  }
  return Refuse(life, in.event, "already on");
}

absl::StatusOr<VcpuLife> PowerOff(const VcpuLife& life, const VcpuInput& in) {
  if (!life.powered) return Refuse(life, in.event, "not on");
  VcpuLife next = life;
  next.powered = false;
  if (life.state == VcpuState::kOnline) return Enter(next, VcpuState::kOffline, in.now);
  return next;  // REMOVING: the guest offlines it before ejecting
}

absl::StatusOr<VcpuLife> NextBootVcpuLife(const VcpuLife& life, const VcpuInput& in) {
  switch (in.event) {
    case VcpuEvent::kCpuOn:
      return PowerOn(life, in);
    case VcpuEvent::kCpuOff:
      return PowerOff(life, in);
    case VcpuEvent::kOst: {
      VcpuLife next = life;
      next.ost_event = in.ost_event;
      next.ost_status = in.ost_status;
      return next;
    }
    case VcpuEvent::kPlug:
    case VcpuEvent::kInsertTaken:
    case VcpuEvent::kRemoveTaken:
    case VcpuEvent::kGraceExpired:
    case VcpuEvent::kStatusRead:
      return life;  // boot vCPUs are always enabled
    case VcpuEvent::kUnplug:
    case VcpuEvent::kEjected:
      return Refuse(life, in.event, "boot vCPUs are permanent");
  }
  return Refuse(life, in.event, "unknown event");
}

absl::StatusOr<VcpuLife> Plug(const VcpuLife& life, const VcpuInput& in) {
  VcpuLife next = life;
  next.generation = in.generation;
  next.requested_at = in.now;
  switch (life.state) {
    case VcpuState::kParked:
      next.change = VcpuChange::kAdd;
      return Step(Enter(next, VcpuState::kEnabling, in.now), VcpuStep::kOffered, in.now);
    case VcpuState::kRemoving:
      // Withdrawing a removal the guest has not read: back to what the CPU is.
      if (!RemovalWithdrawable(life)) {
        return Refuse(life, in.event, "the guest is carrying out the removal");
      }
      next.change = VcpuChange::kNone;
      return Step(Enter(next, life.powered ? VcpuState::kOnline : VcpuState::kOffline, in.now),
                  VcpuStep::kNone, in.now);
    case VcpuState::kEnabling:
    case VcpuState::kEnabled:
    case VcpuState::kOnline:
    case VcpuState::kOffline:
      return life;  // already available: idempotent
  }
  return Refuse(life, in.event, "unknown state");
}

absl::StatusOr<VcpuLife> Unplug(const VcpuLife& life, const VcpuInput& in) {
  VcpuLife next = life;
  next.generation = in.generation;
  next.requested_at = in.now;
  switch (life.state) {
    case VcpuState::kParked:
    case VcpuState::kRemoving:
      return life;  // already going or gone: idempotent
    case VcpuState::kEnabling:
      // Not read (or the guest cannot take it): withdraw the offer. Seen or taken: the guest
      // may be registering the CPU right now, so it has to eject it.
      if (life.step == VcpuStep::kOffered || life.step == VcpuStep::kUnsupported) {
        next.change = VcpuChange::kNone;  // withdrawn: the guest never had it
        return Step(Enter(next, VcpuState::kParked, in.now), VcpuStep::kNone, in.now);
      }
      break;
    case VcpuState::kEnabled:
      if (AwaitingGuestAcpi(life)) {  // the guest has not seen it: nothing to eject
        next.change = VcpuChange::kNone;
        return Step(Enter(next, VcpuState::kParked, in.now), VcpuStep::kNone, in.now);
      }
      break;
    case VcpuState::kOnline:
    case VcpuState::kOffline:
      break;
  }
  next.change = VcpuChange::kRemove;
  return Step(Enter(next, VcpuState::kRemoving, in.now), VcpuStep::kEjectRequested, in.now);
}

absl::StatusOr<VcpuLife> Ost(const VcpuLife& life, const VcpuInput& in) {
  VcpuLife next = life;
  next.ost_event = in.ost_event;
  next.ost_status = in.ost_status;
  const bool adding =
      InsertPending(life) || life.step == VcpuStep::kTaken || life.step == VcpuStep::kUnsupported;
  // A failure only means something for a change in flight; any other report is just recorded.
  const bool in_flight =
      adding || life.state == VcpuState::kEnabling || life.state == VcpuState::kRemoving;
  if (OstFailed(in.ost_event, in.ost_status)) {
    return in_flight ? Step(next, VcpuStep::kRefused, in.now) : next;
  }
  if (in.ost_event == kOstDeviceCheck && adding) {
    next = Step(next, VcpuStep::kRegistered, in.now);
    if (life.state == VcpuState::kEnabling) next = Enter(next, VcpuState::kEnabled, in.now);
  }
  return next;
}

}  // namespace

absl::StatusOr<VcpuLife> NextVcpuLife(const VcpuLife& life, const VcpuInput& in) {
  if (life.boot) return NextBootVcpuLife(life, in);
  switch (in.event) {
    case VcpuEvent::kPlug:
      return Plug(life, in);
    case VcpuEvent::kUnplug:
      return Unplug(life, in);
    case VcpuEvent::kInsertTaken:
      if (!InsertPending(life)) return life;  // a stray acknowledgement
      return Step(life, VcpuStep::kTaken, in.now);
    case VcpuEvent::kRemoveTaken:
      if (!RemovePending(life)) return life;
      return Step(life, VcpuStep::kEjectTaken, in.now);
    case VcpuEvent::kStatusRead:
      if (life.step == VcpuStep::kOffered) return Step(life, VcpuStep::kInsertSeen, in.now);
      if (life.step == VcpuStep::kUnseen) return Step(life, VcpuStep::kRegistered, in.now);
      if (life.step == VcpuStep::kEjectRequested) return Step(life, VcpuStep::kEjectSeen, in.now);
      return life;
    case VcpuEvent::kOst:
      return Ost(life, in);
    case VcpuEvent::kCpuOn:
      return PowerOn(life, in);
    case VcpuEvent::kCpuOff:
      return PowerOff(life, in);
    case VcpuEvent::kEjected:
      if (life.state != VcpuState::kRemoving) {
        return Refuse(life, in.event, "no removal was requested");
      }
      // Linux offlines (CPU_OFF) before _EJ0; ejecting a running vCPU is refused, and the
      // guest sees Enabled still set ("Eject incomplete").
      if (life.powered) return Refuse(life, in.event, "still powered on");
      return Settle(Step(Enter(life, VcpuState::kParked, in.now), VcpuStep::kNone, in.now));
    case VcpuEvent::kGraceExpired:
      if (life.state != VcpuState::kEnabling || life.step != VcpuStep::kTaken) return life;
      return Step(life, VcpuStep::kUnsupported, in.now);
  }
  return Refuse(life, in.event, "unknown event");
}

}  // namespace vmmd::core
