// VcpuManager, hotplug side: declarative scaling requested by the API, and the CPU-hotplug
// register block's backend (what the guest's AML reads and acknowledges). Every change goes
// through NextVcpuState under mu_, so the API, the guest's AML and its PSCI calls see one state.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/common/log.h"
#include "core/vcpu/vcpu_manager.h"

namespace vmmd::core {

namespace {

// _OST status codes that mean "the OS did not do it" (ACPI 6.5 table 6.158): non-specific
// failure, unrecognized notify; for an eject also not supported / in use / busy.
bool OstFailed(uint32_t event, uint32_t status) {
  if (status == 1 || status == 2) return true;
  const bool eject = event == 3 || event == 0x103;
  return eject && status >= 0x80 && status <= 0x83;
}

}  // namespace

std::string_view ScaleWaitName(ScaleWait wait) {
  switch (wait) {
    case ScaleWait::kNone:
      return "none";
    case ScaleWait::kEnabled:
      return "enabled";
    case ScaleWait::kOnline:
      return "online";
  }
  return "?";
}

bool VcpuManager::Plugged(const Slot& s) {
  if (s.boot) return true;
  return s.state != VcpuState::kParked && s.state != VcpuState::kRemoving;
}

uint32_t VcpuManager::PluggedCount() const {
  absl::MutexLock lock(&mu_);
  uint32_t n = 0;
  for (const auto& s : slots_) n += Plugged(*s) ? 1 : 0;
  return n;
}

absl::StatusOr<ScalePlan> VcpuManager::Scale(uint32_t target) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::FailedPreconditionError("the VM is stopping");
  uint32_t boot = 0;
  for (const auto& s : slots_) boot += s->boot ? 1 : 0;
  const auto possible = static_cast<uint32_t>(slots_.size());
  if (target < boot) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "target_vcpus (%u) is below the VM's %u boot vCPUs, which cannot be removed", target, boot));
  }
  if (target > possible) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "target_vcpus (%u) exceeds the VM's max_vcpus (%u)", target, possible));
  }
  ScalePlan plan;
  plan.target = target;
  for (const auto& s : slots_) plan.previous += Plugged(*s) ? 1 : 0;

  const uint64_t generation = scale_generation_ + 1;  // committed only if the plan applies
  if (target > plan.previous) {
    // Lowest ids first. A removal the guest has not acknowledged can simply be withdrawn; one
    // the guest is carrying out (offlining, _EJ0) must finish first.
    std::vector<Slot*> candidates;
    std::vector<uint32_t> busy;
    for (auto& s : slots_) {
      if (Plugged(*s)) continue;
      if (s->state == VcpuState::kRemoving && !s->remove_pending) {
        busy.push_back(s->id);
        continue;
      }
      candidates.push_back(s.get());
    }
    const uint32_t need = target - plan.previous;
    if (candidates.size() < need) {
      return absl::UnavailableError(absl::StrFormat(
          "cannot reach %u vCPUs yet: the guest is still removing vCPU(s) %s; retry shortly",
          target, absl::StrJoin(busy, ",")));
    }
    for (uint32_t i = 0; i < need; ++i) {
      Slot* s = candidates[i];
      auto next = NextVcpuState(s->state, VcpuEvent::kPlug, VcpuFacts{s->boot, s->powered});
      if (!next.ok()) return next.status();
      if (s->state == VcpuState::kParked) {
        s->insert_pending = true;
        s->insert_taken_at = absl::InfinitePast();
        s->registration_reported = false;
        s->guest_unsupported = false;
        s->registered_at = absl::InfinitePast();
      }
      s->remove_pending = false;
      s->ost_failed = false;
      s->changed_in = generation;
      SetStateLocked(s, *next, "api: scale up");
      plan.added.push_back(s->id);
    }
    plan.notify_guest = true;
  } else if (target < plan.previous) {
    // Highest hot-added ids first.
    uint32_t excess = plan.previous - target;
    for (auto it = slots_.rbegin(); it != slots_.rend() && excess > 0; ++it) {
      Slot* s = it->get();
      if (s->boot || !Plugged(*s)) continue;
      const bool took = s->state == VcpuState::kEnabling && !s->insert_pending &&
                        !s->guest_unsupported;
      auto next = NextVcpuState(s->state, VcpuEvent::kUnplug,
                                VcpuFacts{s->boot, s->powered, /*guest_took_insert=*/took});
      if (!next.ok()) return next.status();
      if (*next == VcpuState::kParked) {
        s->insert_pending = false;  // the guest never took it (or cannot): withdraw the offer
      } else {
        s->remove_pending = true;
        plan.notify_guest = true;
      }
      s->ost_failed = false;
      s->changed_in = generation;
      SetStateLocked(s, *next, "api: scale down");
      plan.removed.push_back(s->id);
      --excess;
    }
  }
  plan.generation = scale_generation_ = generation;
  return plan;
}

std::string VcpuManager::ScalePendingLocked(ScaleWait wait) const {
  if (wait == ScaleWait::kNone) return "";
  std::vector<std::string> pending;
  for (const auto& s : slots_) {
    if (s->boot) continue;
    const bool done = s->state == VcpuState::kParked || s->state == VcpuState::kOnline ||
                      (wait == ScaleWait::kEnabled &&
                       (s->state == VcpuState::kEnabled || s->state == VcpuState::kOffline));
    if (!done) pending.push_back(absl::StrFormat("vCPU %u is %s", s->id, VcpuStateName(s->state)));
  }
  return absl::StrJoin(pending, ", ");
}

VcpuManager::Slot* VcpuManager::UnregisteredLocked(absl::Time now, absl::Time* next_expiry) {
  for (auto& s : slots_) {
    if (s->boot || s->state != VcpuState::kEnabling || s->insert_pending ||
        s->registration_reported || s->insert_taken_at == absl::InfinitePast()) {
      continue;
    }
    const absl::Time expiry = s->insert_taken_at + registration_grace_;
    if (expiry <= now) return s.get();
    if (expiry < *next_expiry) *next_expiry = expiry;
  }
  return nullptr;
}

VcpuManager::Slot* VcpuManager::UnstartedLocked(absl::Time now, absl::Time* next_expiry) {
  if (hotplug_evidence_) return nullptr;
  for (auto& s : slots_) {
    if (s->boot || s->state != VcpuState::kEnabled ||
        s->registered_at == absl::InfinitePast()) {
      continue;
    }
    const absl::Time expiry = s->registered_at + registration_grace_;
    if (expiry <= now) return s.get();
    if (expiry < *next_expiry) *next_expiry = expiry;
  }
  return nullptr;
}

absl::Status VcpuManager::AwaitScale(uint64_t generation, ScaleWait wait, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  while (true) {
    // Outcomes, re-checked on every wake-up.
    if (stopping_) return absl::FailedPreconditionError("the VM stopped while the request waited");
    if (scale_generation_ != generation) {
      return absl::AbortedError("superseded by a newer ScaleVCPUs request");
    }
    for (const auto& s : slots_) {
      if (s->ost_failed && s->changed_in == generation) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "the guest refused vCPU %u: _OST event 0x%x status 0x%x (a guest kernel without "
            "arm64 vCPU hotplug, Linux < 6.11?)",
            s->id, s->ost_event, s->ost_status));
      }
    }
    if (ScalePendingLocked(wait).empty()) return absl::OkStatus();
    const absl::Time now = absl::Now();
    absl::Time wake = deadline;
    if (Slot* s = UnregisteredLocked(now, &wake)) {
      s->guest_unsupported = true;
      return absl::FailedPreconditionError(absl::StrFormat(
          "the guest took the hot-add of vCPU %u but did not register the CPU within %s: its "
          "kernel has no ACPI vCPU hotplug for arm64 (Linux >= 6.11 with CONFIG_ACPI_HOTPLUG_CPU "
          "is needed); the vCPU stays enabled but unused until a smaller target withdraws it",
          s->id, absl::FormatDuration(registration_grace_)));
    }
    if (wait == ScaleWait::kOnline) {
      if (Slot* s = UnstartedLocked(now, &wake)) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "the guest accepted the hot-add of vCPU %u but has not started it within %s, and it "
            "has never tried to start any hot-pluggable vCPU: its kernel most likely has no ACPI "
            "vCPU hotplug for arm64 (Linux >= 6.11 with CONFIG_ACPI_HOTPLUG_CPU is needed; Linux "
            "6.1 acknowledges the event and registers nothing), or it lacks the online rule "
            "(docs/guest-setup.md)",
            s->id, absl::FormatDuration(registration_grace_)));
      }
    }
    if (now >= deadline) {
      const bool online = wait == ScaleWait::kOnline;
      return absl::DeadlineExceededError(absl::StrCat(
          "the guest has not ", online ? "brought every vCPU online" : "taken every change",
          " yet: ", ScalePendingLocked(wait),
          online ? " (ENABLED: the guest registered the CPU but nothing onlined it — see "
                   "docs/guest-setup.md; ENABLING: the guest has not registered the CPU yet)"
                 : " (ENABLING: the guest has not registered the CPU yet; REMOVING: the guest "
                   "has not ejected the CPU)"));
    }
    // Sleep until the guest or a caller changes something, or a timer is due.
    const uint64_t progress = guest_progress_;
    auto changed = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return stopping_ || scale_generation_ != generation || guest_progress_ != progress;
    };
    mu_.AwaitWithDeadline(absl::Condition(&changed), wake);
  }
}

// ---- CpuHotplugBackend ----------------------------------------------------------------------

CpuHotplugStatus VcpuManager::Status(uint32_t cpu) const {
  absl::MutexLock lock(&mu_);
  if (cpu >= slots_.size()) return {};
  const Slot& s = *slots_[cpu];
  return CpuHotplugStatus{.enabled = s.boot || s.state != VcpuState::kParked,
                          .insert_pending = s.insert_pending,
                          .remove_pending = s.remove_pending};
}

uint64_t VcpuManager::ArchId(uint32_t cpu) const {
  return cpu < slots_.size() ? slots_[cpu]->mpidr : 0;  // immutable after construction
}

void VcpuManager::AckInsert(uint32_t cpu) {
  absl::MutexLock lock(&mu_);
  if (cpu >= slots_.size()) return;
  Slot* s = slots_[cpu].get();
  if (!s->insert_pending) return;  // a stray acknowledgement
  // The guest's scan took the event (it will Notify the CPU); registration is its _OST.
  s->insert_pending = false;
  s->insert_taken_at = absl::Now();
  ++guest_progress_;
}

void VcpuManager::AckRemove(uint32_t cpu) {
  absl::MutexLock lock(&mu_);
  if (cpu >= slots_.size()) return;
  slots_[cpu]->remove_pending = false;
}

void VcpuManager::Eject(uint32_t cpu) {
  absl::MutexLock lock(&mu_);
  if (cpu >= slots_.size()) return;
  Slot* s = slots_[cpu].get();
  if (s->powered) {
    // Linux offlines (CPU_OFF) before _EJ0; a guest that ejects a running vCPU is refused and
    // sees Enabled still set ("Eject incomplete").
    LogWarning("%s: _EJ0 for vCPU %u while it is powered on: refused", name_, cpu);
    return;
  }
  auto next = NextVcpuState(s->state, VcpuEvent::kEjected, VcpuFacts{s->boot, s->powered});
  if (!next.ok()) {
    LogWarning("%s: _EJ0 for vCPU %u refused: %s", name_, cpu, next.status().message());
    return;
  }
  s->remove_pending = false;
  SetStateLocked(s, *next, "guest _EJ0");
}

void VcpuManager::Ost(uint32_t cpu, uint32_t event, uint32_t status) {
  absl::MutexLock lock(&mu_);
  if (cpu >= slots_.size()) return;
  Slot* s = slots_[cpu].get();
  s->ost_event = event;
  s->ost_status = status;
  constexpr uint32_t kDeviceCheck = 1;
  if (event == kDeviceCheck && !s->boot) {
    s->registration_reported = true;
    if (status == 0) {
      if (s->registered_at == absl::InfinitePast()) s->registered_at = absl::Now();
      auto next = NextVcpuState(s->state, VcpuEvent::kRegistered, VcpuFacts{s->boot, s->powered});
      if (next.ok()) SetStateLocked(s, *next, "guest registered the CPU");
    }
  }
  ++guest_progress_;
  if (OstFailed(event, status) && !s->boot) {
    s->ost_failed = true;
    LogWarning("%s: guest _OST for vCPU %u: event 0x%x failed with status 0x%x", name_, cpu,
               event, status);
  } else {
    LogDebug("%s: guest _OST for vCPU %u: event 0x%x status 0x%x", name_, cpu, event, status);
  }
}

}  // namespace vmmd::core
