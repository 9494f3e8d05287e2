// The one vCPU lifecycle state machine. Pure: NextVcpuLife(life, input) is the next life, or a
// typed refusal, and its result is the only writer of a vCPU's lifecycle — VcpuManager assigns
// it and nothing else. A life is the public state, the guest's PSCI view (powered) and where the
// guest is in the hotplug handshake (step), with the request that last changed it.
//
// Public states (GetCPUState, WatchEvents):
//
//   PARKED ─Plug─▶ ENABLING ─Ost(Device Check ok)─▶ ENABLED ─CpuOn─▶ ONLINE ◀─CpuOn─ OFFLINE
//    ▲  ▲            │  │                              │              │ └──CpuOff──▶ ▲ │
//    │  └──Unplug────┘  └──CpuOn (the guest raced ahead of its report)─▶ ONLINE        │ │
//    │  (offered or     │                              │              │              │ │
//    │   unsupported)   └─Unplug (taken)─┐     Unplug  │      Unplug  │      Unplug  │ │
//    │                                   ▼             ▼              ▼              │ ▼
//    └───Ejected (powered off)──────── REMOVING ◀────────────────────────────────────┘─┘
//                                        └─Plug, the eject not seen yet─▶ ONLINE / OFFLINE
//
// Steps of the handshake (ACPI CPU hotplug: GED event, CSCN, Notify, _OST, _EJ0):
//   kNone            nothing asked of the guest
//   kOffered         hot-add raised; the guest has not read it yet (the block reads CINS = 1)
//   kInsertSeen      the guest read CINS = 1: its scan may be about to Notify, so the offer can no
//                    longer be withdrawn (a smaller target ejects it instead)
//   kTaken           the scan took it (cleared CINS); the guest is registering the CPU
//   kRegistered      _OST(Device Check, success): the guest registered the CPU
//   kUnsupported     taken, but not registered within the grace period (GraceExpired): a kernel
//                    without arm64 vCPU hotplug (Linux 6.1 takes the event and registers nothing)
//   kEjectRequested  hot-remove raised; the guest has not read it yet (CRMV = 1)
//   kEjectSeen       the guest read CRMV = 1: it may already be offlining the CPU, so the removal
//                    can no longer be withdrawn; it completes with _EJ0
//   kEjectTaken      the scan took it; the guest offlines the CPU and calls _EJ0
//
// "Seen" closes a race: the scan reads the flag, then Notifies, then clears it. A request that
// withdrew the change between the read and the clear would leave the guest ejecting a vCPU vmmd
// kept (its _EJ0 refused, the CPU gone from the guest) or registering one vmmd parked.
//   kRefused         the guest's _OST reported failure for the change
//   kUnseen          enabled before this boot (a restart at a scaled size, or start_vcpus): the
//                    guest's ACPI has not read its status yet, so CPU_ON is refused — the
//                    kernel's early serial bring-up passes it by; its ACPI scan registers it
//                    (StatusRead: kRegistered) and user space powers it on as after a hot-add
//
// Boot vCPUs are OFFLINE or ONLINE only, always enabled: the hotplug events change nothing for
// them, and Unplug and Ejected are refused.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace vmmd::core {

enum class VcpuState { kParked, kEnabling, kEnabled, kOnline, kOffline, kRemoving };

enum class VcpuStep {
  kNone,
  kOffered,
  kInsertSeen,
  kTaken,
  kRegistered,
  kUnsupported,
  kEjectRequested,
  kEjectSeen,
  kEjectTaken,
  kRefused,
  kUnseen,
};

// The change a ScaleVCPUs request asked of this vCPU, while it is in progress: a hot-add until
// the vCPU is ONLINE, a hot-remove until it is PARKED again.
enum class VcpuChange { kNone, kAdd, kRemove };

enum class VcpuEvent {
  kPlug,          // API: make this vCPU available to the guest
  kUnplug,        // API: take this vCPU away from the guest
  kInsertTaken,   // guest: its scan cleared the insert event
  kRemoveTaken,   // guest: its scan cleared the remove event
  kOst,           // guest: _OST(event, status) for this vCPU
  kCpuOn,         // guest: PSCI CPU_ON for this vCPU accepted (or vmmd starting a boot vCPU)
  kCpuOff,        // guest: PSCI CPU_OFF on this vCPU
  kEjected,       // guest: _EJ0 on this vCPU
  kGraceExpired,  // vmmd: a taken hot-add stayed unregistered for the grace period
  kStatusRead,    // guest: read this vCPU's status byte (a pending event there is now seen)
};

// _OST event and status codes (ACPI 6.5 section 6.3.5).
inline constexpr uint32_t kOstDeviceCheck = 1;
inline constexpr uint32_t kOstEjectRequest = 3;
inline constexpr uint32_t kOstEjectProcessing = 0x103;
inline constexpr uint32_t kOstSuccess = 0;

struct VcpuLife {
  VcpuState state = VcpuState::kParked;
  bool boot = false;     // a boot vCPU (MADT Enabled; permanent)
  bool powered = false;  // PSCI view: running guest code (its thread exists)
  VcpuStep step = VcpuStep::kNone;
  absl::Time step_at = absl::InfinitePast();  // when the guest reached `step`
  uint64_t generation = 0;                    // the ScaleVCPUs request that last changed it
  VcpuChange change = VcpuChange::kNone;      // what that request asked, while in progress
  absl::Time requested_at = absl::InfinitePast();  // when that request was made
  uint32_t ost_event = 0;                     // the guest's last _OST for this vCPU
  uint32_t ost_status = 0;
  absl::Time since = absl::InfinitePast();  // when `state` was entered

  bool operator==(const VcpuLife&) const = default;
};

struct VcpuInput {
  VcpuEvent event = VcpuEvent::kPlug;
  absl::Time now = absl::InfinitePast();
  uint64_t generation = 0;  // kPlug / kUnplug: the request
  uint32_t ost_event = 0;   // kOst
  uint32_t ost_status = 0;  // kOst
};

// A boot vCPU starts OFFLINE (vmmd powers vCPU 0 on with CpuOn), any other PARKED, or with
// `plugged` (available before this boot of the VM) ENABLED in step kUnseen: its CPU_ON is
// refused until the guest's ACPI has read its status, then it waits for the guest's CPU_ON;
// removable like any hot-added vCPU.
VcpuLife InitialVcpuLife(bool boot, absl::Time now, bool plugged = false);

// FAILED_PRECONDITION (naming the state, the event and why) when the event is not allowed. An
// event that changes nothing returns `life` unchanged (a stray acknowledgement, a repeated
// request).
absl::StatusOr<VcpuLife> NextVcpuLife(const VcpuLife& life, const VcpuInput& input);

// What the CPU-hotplug register block shows the guest for this vCPU.
inline bool AcpiEnabled(const VcpuLife& l) { return l.boot || l.state != VcpuState::kParked; }
// Enabled, but the guest's ACPI has not read that yet: CPU_ON is refused.
inline bool AwaitingGuestAcpi(const VcpuLife& l) { return l.step == VcpuStep::kUnseen; }
inline bool InsertPending(const VcpuLife& l) {
  return l.step == VcpuStep::kOffered || l.step == VcpuStep::kInsertSeen;
}
inline bool RemovePending(const VcpuLife& l) {
  return l.step == VcpuStep::kEjectRequested || l.step == VcpuStep::kEjectSeen;
}
// A removal a newer request may still take back: the guest has not read it.
inline bool RemovalWithdrawable(const VcpuLife& l) {
  return l.state == VcpuState::kRemoving && l.step == VcpuStep::kEjectRequested;
}
// Available to the guest: a boot vCPU, or a hot-added one not being removed.
inline bool Plugged(const VcpuLife& l) {
  return l.boot || (l.state != VcpuState::kParked && l.state != VcpuState::kRemoving);
}
// _OST codes that mean "the OS did not do it": non-specific failure, unrecognised notify, and
// for a Device Check any other non-success; for an eject also not supported / in use / busy
// (0x84, "in progress", is not a failure).
bool OstFailed(uint32_t event, uint32_t status);

std::string_view VcpuStateName(VcpuState state);  // "PARKED", "ONLINE", ...
std::string_view VcpuStepName(VcpuStep step);     // "offered", "taken", ...
std::string_view VcpuEventName(VcpuEvent event);  // "Plug", "CpuOn", ...

}  // namespace vmmd::core
