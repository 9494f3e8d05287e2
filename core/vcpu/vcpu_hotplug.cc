// VcpuManager, hotplug side: declarative scaling requested by the API, and the CPU-hotplug
// register block's backend (what the guest's AML reads and acknowledges). Every change goes
// through NextVcpuLife under mu_, so the API, the guest's AML and its PSCI calls see one life.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/common/log.h"
#include "core/common/status_macros.h"
#include "core/vcpu/vcpu_manager.h"

namespace vmmd::core {

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

uint32_t VcpuManager::PluggedCount() const {
  absl::MutexLock lock(&mu_);
  uint32_t n = 0;
  for (const auto& s : slots_) n += Plugged(s->life) ? 1 : 0;
  return n;
}

absl::StatusOr<ScalePlan> VcpuManager::Scale(uint32_t target) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::FailedPreconditionError("the VM is stopping");
  uint32_t boot = 0;
  for (const auto& s : slots_) boot += s->life.boot ? 1 : 0;
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
  for (const auto& s : slots_) plan.previous += Plugged(s->life) ? 1 : 0;

  // The request's changes, computed through the state machine first and committed together.
  const uint64_t generation = scale_generation_ + 1;
  const absl::Time now = absl::Now();
  std::vector<std::pair<Slot*, VcpuLife>> changes;
  if (target > plan.previous) {
    // Lowest ids first. A removal the guest has not read can simply be withdrawn; one it has
    // seen may already be under way (offlining, _EJ0) and must finish first.
    std::vector<Slot*> candidates;
    std::vector<uint32_t> busy;
    for (auto& s : slots_) {
      if (Plugged(s->life)) continue;
      if (s->life.state == VcpuState::kRemoving && !RemovalWithdrawable(s->life)) {
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
      VMMD_ASSIGN_OR_RETURN(
          VcpuLife next,
          NextVcpuLife(s->life, {.event = VcpuEvent::kPlug, .now = now, .generation = generation}));
      changes.emplace_back(s, next);
      plan.added.push_back(s->id);
    }
    plan.notify_guest = true;
  } else if (target < plan.previous) {
    // Highest hot-added ids first.
    uint32_t excess = plan.previous - target;
    for (auto it = slots_.rbegin(); it != slots_.rend() && excess > 0; ++it) {
      Slot* s = it->get();
      if (s->life.boot || !Plugged(s->life)) continue;
      VMMD_ASSIGN_OR_RETURN(VcpuLife next, NextVcpuLife(s->life, {.event = VcpuEvent::kUnplug,
                                                                  .now = now,
                                                                  .generation = generation}));
      if (RemovePending(next)) plan.notify_guest = true;  // else withdrawn: nothing to tell
      changes.emplace_back(s, next);
      plan.removed.push_back(s->id);
      --excess;
    }
  }
  for (auto& [slot, next] : changes) {
    CommitLocked(slot, next, target > plan.previous ? "api: scale up" : "api: scale down");
  }
  // A withdrawal can end a scan the guest is running early (it stops at a round that finds no
  // event), so while any event is pending the guest is told again: a spare scan finds nothing.
  for (const auto& s : slots_) {
    if (InsertPending(s->life) || RemovePending(s->life)) plan.notify_guest = true;
  }
  plan.generation = scale_generation_ = generation;
  return plan;
}

std::string VcpuManager::ScalePendingLocked(ScaleWait wait) const {
  if (wait == ScaleWait::kNone) return "";
  std::vector<std::string> pending;
  for (const auto& s : slots_) {
    if (s->life.boot) continue;
    const VcpuState st = s->life.state;
    const bool done =
        st == VcpuState::kParked || st == VcpuState::kOnline ||
        (wait == ScaleWait::kEnabled && (st == VcpuState::kEnabled || st == VcpuState::kOffline));
    if (!done) pending.push_back(absl::StrFormat("vCPU %u is %s", s->id, VcpuStateName(st)));
  }
  return absl::StrJoin(pending, ", ");
}

VcpuManager::Slot* VcpuManager::UnregisteredLocked(absl::Time now, absl::Time* next_expiry) {
  for (auto& s : slots_) {
    const VcpuLife& l = s->life;
    if (l.boot || l.state != VcpuState::kEnabling) continue;
    if (l.step == VcpuStep::kUnsupported) return s.get();
    if (l.step != VcpuStep::kTaken) continue;
    const absl::Time expiry = l.step_at + registration_grace_;
    if (expiry <= now) return s.get();
    if (expiry < *next_expiry) *next_expiry = expiry;
  }
  return nullptr;
}

VcpuManager::Slot* VcpuManager::UnstartedLocked(absl::Time now, absl::Time* next_expiry) {
  if (hotplug_evidence_) return nullptr;
  for (auto& s : slots_) {
    const VcpuLife& l = s->life;
    if (l.boot || l.state != VcpuState::kEnabled || l.step != VcpuStep::kRegistered) continue;
    const absl::Time expiry = l.step_at + registration_grace_;
    if (expiry <= now) return s.get();
    if (expiry < *next_expiry) *next_expiry = expiry;
  }
  return nullptr;
}

std::string_view ScaleOutcomeName(ScaleOutcome outcome) {
  switch (outcome) {
    case ScaleOutcome::kOk:
      return "ok";
    case ScaleOutcome::kDeadlineExceeded:
      return "deadline_exceeded";
    case ScaleOutcome::kRefused:
      return "refused";
    case ScaleOutcome::kUnsupported:
      return "unsupported";
    case ScaleOutcome::kSuperseded:
      return "superseded";
    case ScaleOutcome::kStopped:
      return "stopped";
  }
  return "unknown";
}

absl::Status VcpuManager::AwaitScale(uint64_t generation, ScaleWait wait, absl::Time deadline,
                                     ScaleOutcome* outcome) {
  auto ended = [outcome](ScaleOutcome o, absl::Status s) {
    if (outcome != nullptr) *outcome = o;
    return s;
  };
  absl::MutexLock lock(&mu_);
  while (true) {
    // Outcomes, re-checked on every wake-up.
    if (stopping_) {
      return ended(ScaleOutcome::kStopped,
                   absl::FailedPreconditionError("the VM stopped while the request waited"));
    }
    if (scale_generation_ != generation) {
      return ended(ScaleOutcome::kSuperseded,
                   absl::AbortedError("superseded by a newer ScaleVCPUs request"));
    }
    for (const auto& s : slots_) {
      const VcpuLife& l = s->life;
      if (l.step == VcpuStep::kRefused && l.generation == generation) {
        return ended(ScaleOutcome::kRefused,
                     absl::FailedPreconditionError(absl::StrFormat(
                         "the guest refused vCPU %u: _OST event 0x%x status 0x%x (a guest kernel "
                         "without arm64 vCPU hotplug, Linux < 6.11?)",
                         s->id, l.ost_event, l.ost_status)));
      }
    }
    if (ScalePendingLocked(wait).empty()) return ended(ScaleOutcome::kOk, absl::OkStatus());
    const absl::Time now = absl::Now();
    absl::Time wake = deadline;
    if (Slot* s = UnregisteredLocked(now, &wake)) {
      // Recorded, so that a smaller target withdraws the vCPU instead of asking for an eject.
      (void)ApplyLocked(s, {.event = VcpuEvent::kGraceExpired, .now = now}, "registration grace");
      return ended(
          ScaleOutcome::kUnsupported,
          absl::FailedPreconditionError(absl::StrFormat(
              "the guest took the hot-add of vCPU %u but did not register the CPU within %s: its "
              "kernel has no ACPI vCPU hotplug for arm64 (Linux >= 6.11 with "
              "CONFIG_ACPI_HOTPLUG_CPU "
              "is needed); the vCPU stays enabled but unused until a smaller target withdraws it",
              s->id, absl::FormatDuration(registration_grace_))));
    }
    if (wait == ScaleWait::kOnline) {
      if (Slot* s = UnstartedLocked(now, &wake)) {
        return ended(
            ScaleOutcome::kUnsupported,
            absl::FailedPreconditionError(absl::StrFormat(
                "the guest accepted the hot-add of vCPU %u but has not started it within %s, and "
                "it "
                "has never tried to start any hot-pluggable vCPU: its kernel most likely has no "
                "ACPI "
                "vCPU hotplug for arm64 (Linux >= 6.11 with CONFIG_ACPI_HOTPLUG_CPU is needed; "
                "Linux "
                "6.1 acknowledges the event and registers nothing), or it lacks the online rule "
                "(docs/guest-setup.md)",
                s->id, absl::FormatDuration(registration_grace_))));
      }
    }
    if (now >= deadline) {
      const bool online = wait == ScaleWait::kOnline;
      return ended(
          ScaleOutcome::kDeadlineExceeded,
          absl::DeadlineExceededError(absl::StrCat(
              "the guest has not ", online ? "brought every vCPU online" : "taken every change",
              " yet: ", ScalePendingLocked(wait),
              online ? " (ENABLED: the guest registered the CPU but nothing onlined it — see "
                       "docs/guest-setup.md; ENABLING: the guest has not registered the CPU yet)"
                     : " (ENABLING: the guest has not registered the CPU yet; REMOVING: the guest "
                       "has not ejected the CPU)")));
    }
    // Sleep until the guest or a caller changes something, or a timer is due.
    const uint64_t progress = guest_progress_;
    auto changed = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return stopping_ || scale_generation_ != generation || guest_progress_ != progress;
    };
    ++scale_waiters_;
    mu_.AwaitWithDeadline(absl::Condition(&changed), wake);
    --scale_waiters_;
  }
}

// ---- CpuHotplugBackend ----------------------------------------------------------------------

CpuHotplugStatus VcpuManager::Status(uint32_t cpu) const {
  absl::MutexLock lock(&mu_);
  if (cpu >= slots_.size()) return {};
  const VcpuLife& l = slots_[cpu]->life;
  return CpuHotplugStatus{.enabled = AcpiEnabled(l),
                          .insert_pending = InsertPending(l),
                          .remove_pending = RemovePending(l)};
}

CpuHotplugStatus VcpuManager::ReadStatus(uint32_t cpu) {
  absl::MutexLock lock(&mu_);
  if (cpu >= slots_.size()) return {};
  Slot* s = slots_[cpu].get();
  const CpuHotplugStatus status{.enabled = AcpiEnabled(s->life),
                                .insert_pending = InsertPending(s->life),
                                .remove_pending = RemovePending(s->life)};
  // In the same critical section as the answer: no request can withdraw what the guest read.
  if (status.insert_pending || status.remove_pending) {
    (void)ApplyLocked(s, {.event = VcpuEvent::kStatusRead}, "guest read the event");
  } else if (AwaitingGuestAcpi(s->life)) {
    (void)ApplyLocked(s, {.event = VcpuEvent::kStatusRead}, "guest ACPI read it");
  }
  return status;
}

uint64_t VcpuManager::ArchId(uint32_t cpu) const {
  return cpu < slots_.size() ? slots_[cpu]->mpidr : 0;  // immutable after construction
}

void VcpuManager::AckInsert(uint32_t cpu) {
  absl::MutexLock lock(&mu_);
  if (cpu >= slots_.size()) return;
  // The guest's scan took the event (it will Notify the CPU); registration is its _OST.
  (void)ApplyLocked(slots_[cpu].get(), {.event = VcpuEvent::kInsertTaken}, "guest took insert");
}

void VcpuManager::AckRemove(uint32_t cpu) {
  absl::MutexLock lock(&mu_);
  if (cpu >= slots_.size()) return;
  (void)ApplyLocked(slots_[cpu].get(), {.event = VcpuEvent::kRemoveTaken}, "guest took remove");
}

void VcpuManager::Eject(uint32_t cpu) {
  absl::MutexLock lock(&mu_);
  if (cpu >= slots_.size()) return;
  if (absl::Status s = ApplyLocked(slots_[cpu].get(), {.event = VcpuEvent::kEjected}, "guest _EJ0");
      !s.ok()) {
    if (const uint64_t n = refused_hotplug_.Count(); n != 0) {
      pending_log_.push_back(
          {LogLevel::kWarning, absl::StrFormat("%s: _EJ0 for vCPU %u refused (%u refused guest "
                                               "hotplug writes so far): %s",
                                               name_, cpu, n, s.message())});
    }
  }
}

void VcpuManager::FlushLog() {
  std::vector<PendingLog> lines;
  {
    absl::MutexLock lock(&mu_);
    lines.swap(pending_log_);
  }
  for (const PendingLog& line : lines) Log(line.level, "%s", line.message);
}

void VcpuManager::Ost(uint32_t cpu, uint32_t event, uint32_t status) {
  absl::MutexLock lock(&mu_);
  if (cpu >= slots_.size()) return;
  Slot* s = slots_[cpu].get();
  const bool was_enabling = s->life.state == VcpuState::kEnabling;
  (void)ApplyLocked(s, {.event = VcpuEvent::kOst, .ost_event = event, .ost_status = status},
                    was_enabling ? "guest registered the CPU" : "guest _OST");
  if (OstFailed(event, status) && !s->life.boot) {
    if (const uint64_t n = refused_hotplug_.Count(); n != 0) {
      pending_log_.push_back(
          {LogLevel::kWarning,
           absl::StrFormat("%s: guest _OST for vCPU %u: event 0x%x failed with status 0x%x (%u "
                           "refused guest hotplug writes so far)",
                           name_, cpu, event, status, n)});
    }
  } else if (LogEnabled(LogLevel::kDebug)) {
    if (const uint64_t n = ost_reports_.Count(); n != 0) {
      pending_log_.push_back(
          {LogLevel::kDebug, absl::StrFormat("%s: guest _OST for vCPU %u: event 0x%x status 0x%x "
                                             "(%u so far)",
                                             name_, cpu, event, status, n)});
    }
  }
}

}  // namespace vmmd::core
