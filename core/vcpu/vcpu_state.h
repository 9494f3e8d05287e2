// The one vCPU lifecycle state machine. Pure: (state, event, facts) → next state or a typed
// refusal. VcpuManager is its only driver; nothing else assigns a VcpuState.
//
//   PARKED ──Plug──▶ ENABLING ──Registered──▶ ENABLED ──CpuOn──▶ ONLINE ◀──CpuOn── OFFLINE
//     ▲                 │                         │                  └──CpuOff──────▶ │
//     │              Unplug                     Unplug           Unplug (ONLINE/OFFLINE)
//     │                 ▼                         ▼                                    │
//     └───────────── PARKED          REMOVING ◀──────────────────────────────────────┘
//     └──────────────Ejected──────────  │
//
// Boot vCPUs are ONLINE or OFFLINE only; Plug is a no-op and Unplug is refused for them.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"

namespace vmmd::core {

enum class VcpuState { kParked, kEnabling, kEnabled, kOnline, kOffline, kRemoving };

enum class VcpuEvent {
  kPlug,         // API: make this vCPU available to the guest
  kRegistered,   // guest: registered the hot-added CPU (its _OST for the Device Check: success)
  kCpuOn,        // guest: PSCI CPU_ON for this vCPU was accepted
  kCpuOff,       // guest: PSCI CPU_OFF on this vCPU
  kUnplug,       // API: take this vCPU away from the guest
  kEjected,      // guest: _EJ0 on this vCPU
};

struct VcpuFacts {
  bool boot = false;        // a boot vCPU (MADT Enabled; permanent)
  bool powered_on = false;  // PSCI view: running guest code
  // ENABLING only: the guest has taken the insert event (its scan ran) and may be registering
  // the CPU right now, so an Unplug must go through an eject rather than just withdraw the offer.
  bool guest_took_insert = false;
};

std::string_view VcpuStateName(VcpuState state);  // "PARKED", "ONLINE", ...
std::string_view VcpuEventName(VcpuEvent event);

// FAILED_PRECONDITION (with the state and event named) when the event is not allowed.
absl::StatusOr<VcpuState> NextVcpuState(VcpuState state, VcpuEvent event, const VcpuFacts& facts);

}  // namespace vmmd::core
