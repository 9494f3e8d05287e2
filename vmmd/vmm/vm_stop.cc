// Vm::Stop: at once, or gracefully through the ACPI power button (vm.h).
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/common/log.h"
#include "vmmd/vmm/machine.h"
#include "vmmd/vmm/vm.h"

namespace vmmd::vmm {

absl::StatusOr<PowerOffRequest> Vm::RequestPowerOff(absl::Duration grace) {
  PowerOffRequest request;
  {
    // op_mu_ only for the moment of the press: a start or a guest event is not half-way.
    absl::MutexLock op(&op_mu_);
    if (shut_down_) return absl::NotFoundError(absl::StrFormat("VM %s was deleted", spec_.name));
    absl::MutexLock lock(&mu_);
    if (state_ != VmState::kRunning || machine_ == nullptr || !machine_->HasPowerButton()) {
      return request;
    }
    if (absl::Status s = machine_->PressPowerButton(); !s.ok()) return s;
    request.machine = machine_;
    NoteLocked(absl::StrFormat(
        "ACPI power button pressed by a stop request; stopped anyway unless the guest powers off "
        "within %s",
        absl::FormatDuration(grace)));
  }
  LogInfo("%s: ACPI power button pressed; waiting up to %s for the guest to power off", spec_.name,
          absl::FormatDuration(grace));
  return request;
}

bool Vm::AwaitPowerOff(PowerOffRequest request, absl::Time deadline) {
  if (request.machine == nullptr) return false;
  bool gone = false;
  {
    absl::MutexLock lock(&mu_);
    const Machine* pressed = request.machine.get();
    auto replaced = [this, pressed]()
                        ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return machine_.get() != pressed; };
    gone = mu_.AwaitWithDeadline(absl::Condition(&replaced), deadline);
  }
  // `request` (maybe the last reference to a machine the guest stopped) is freed by the caller,
  // outside mu_.
  return gone;
}

absl::Status Vm::Stop(StopOptions options) {
  if (options.grace <= absl::ZeroDuration()) {
    return FinishStop(/*pressed=*/false, "stopped by request (forced)");
  }
  absl::StatusOr<PowerOffRequest> request = RequestPowerOff(options.grace);
  if (!request.ok()) return request.status();
  if (request->machine == nullptr) {
    // Not running (FinishStop says so), or a device-tree boot: a DT has no power button.
    return FinishStop(/*pressed=*/false,
                      "stopped by request (at once: a device-tree boot has no ACPI power button)");
  }
  const bool powered_off = AwaitPowerOff(*std::move(request), absl::Now() + options.grace);
  return FinishStop(
      /*pressed=*/true,
      powered_off
          ? "stopped by request (forced: the guest reset instead of powering off)"
          : absl::StrFormat("stopped by request: the guest did not power off within %s of the "
                            "ACPI power button; forced",
                            absl::FormatDuration(options.grace)));
}

absl::Status Vm::FinishStop(bool pressed, std::string reason) {
  std::thread ended;  // joined without op_mu_: it may be waiting for op_mu_ right now
  absl::Status status;
  {
    absl::MutexLock op(&op_mu_);
    if (shut_down_) return absl::NotFoundError(absl::StrFormat("VM %s was deleted", spec_.name));
    bool running = false;
    std::string now;  // the reason the VM has now
    {
      absl::MutexLock lock(&mu_);
      running = state_ == VmState::kRunning;
      now = reason_;
    }
    if (restart_pending_) {
      LogInfo("%s: restart after guest reset cancelled by a stop request", spec_.name);
      absl::MutexLock lock(&mu_);
      NoteLocked("stopped by request while waiting to restart after a guest reset");
    } else if (pressed && !running) {
      // The guest powered off (or another request stopped the VM meanwhile): done.
      LogInfo("%s: stopped after the ACPI power button (%s)", spec_.name, now);
    } else {
      if (pressed) LogWarning("%s: %s", spec_.name, reason);
      status = TearDownLocked(/*failed=*/false, std::move(reason));
    }
    if (status.ok()) {
      EndControllerLocked();
      ended = std::move(controller_);
      SetShouldRun(false);  // stopped by a client: stays down across vmmd restarts
    }
  }
  if (ended.joinable()) ended.join();
  return status;
}

}  // namespace vmmd::vmm
