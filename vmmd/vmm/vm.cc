#include "vmmd/vmm/vm.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "core/common/errno_status.h"
#include "core/common/log.h"
#include "core/common/status_macros.h"
#include "core/common/thread.h"
#include "core/common/thread_sandbox.h"
#include "hw/pl011/console_log.h"
#include "vmmd/vmm/autoscale_policy.h"
#include "vmmd/vmm/machine.h"
#include "vmmd/vmm/vm_spec_validation.h"

namespace vmmd::vmm {

Vm::Vm(VmSpec spec, AutoscalePolicy autoscale, VmContext context, VmResume resume)
    : spec_(std::move(spec)),
      hypervisor_(context.hypervisor),
      state_dir_(std::move(context.state_dir)),
      hub_(context.events),
      image_dirs_(std::move(context.image_dirs)),
      records_(context.records),
      firmware_images_(std::move(context.firmware_images)),
      unusable_(std::move(resume.unusable)),
      created_at_(resume.created_at == absl::InfinitePast() ? absl::Now() : resume.created_at),
      restart_policy_(context.restart) {
  absl::MutexLock lock(&mu_);
  target_vcpus_ = resume.target_vcpus != 0 ? resume.target_vcpus : EffectiveStartVcpus(spec_);
  autoscale_ = autoscale;
  should_run_ = resume.should_run;
  carried_cpu_.resize(spec_.max_vcpus == 0 ? spec_.boot_vcpus : spec_.max_vcpus);
  if (!unusable_.ok()) {
    state_ = VmState::kFailed;  // the one state such a VM ever has
    reason_ = std::string(unusable_.message());
  }
}

Vm::~Vm() { Shutdown(); }

void Vm::Sink::OnGuestSystemEvent(uint32_t vcpu, const core::SystemEventExit& event) {
  channel_->Post(GuestEvent{generation_, vcpu, false, event, absl::OkStatus()});
}

void Vm::Sink::OnVcpuFailed(uint32_t vcpu, const absl::Status& status) {
  channel_->Post(GuestEvent{generation_, vcpu, true, core::SystemEventExit{}, status});
}

void Vm::Sink::OnVcpuTransition(const core::VcpuTransition& t) {
  if (vm_->hub_ == nullptr) return;
  WatchEvent e;
  e.time = t.time;
  e.vm = vm_->spec_.name;
  e.kind = WatchEvent::Kind::kVcpuState;
  e.vcpu = t.vcpu;
  e.from = t.from;
  e.to = t.to;
  e.detail = t.cause;
  vm_->hub_->Publish(std::move(e));
}

absl::Status Vm::TransitionLocked(VmEvent event, std::string reason) {
  absl::StatusOr<VmState> next = NextVmState(state_, event);
  if (!next.ok()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("VM %s %s", spec_.name, next.status().message()));
  }
  state_ = *next;
  ++carried_.transitions_to(state_);
  NoteLocked(std::move(reason));
  return absl::OkStatus();
}

void Vm::NoteLocked(std::string reason) {
  const VmState state = state_;
  reason_ = std::move(reason);
  if (hub_ == nullptr) return;
  WatchEvent e;
  e.time = absl::Now();
  e.vm = spec_.name;
  e.kind = WatchEvent::Kind::kVmState;
  e.vm_state = state;
  e.detail = reason_;
  hub_->Publish(std::move(e));
}

absl::Status Vm::EnsureControllerLocked() {
  if (channel_ != nullptr) return absl::OkStatus();
  // A controller that ended on its own (the guest stopped the VM) returns without any lock.
  if (controller_.joinable()) controller_.join();
  auto channel = std::make_shared<Channel>();
  // The thread confines itself (no sockets) before it handles anything; a thread that cannot
  // is not used.
  auto confined = std::make_shared<std::pair<absl::Notification, absl::Status>>();
  absl::StatusOr<std::thread> thread = StartThread(
      absl::StrFormat("controller of VM %s", spec_.name),
      [this, channel, confined] {
        const absl::Status sandbox = EnterThreadSandbox(ThreadRole::kController);
        confined->second = sandbox;
        confined->first.Notify();
        if (sandbox.ok()) ControllerLoop(channel);
      },
      // As the vCPU threads ("<vm>/<n>"): "<vm>/ctl".
      absl::StrFormat("%s/ctl", spec_.name.substr(0, 10)));
  if (!thread.ok()) return thread.status();
  confined->first.WaitForNotification();
  if (!confined->second.ok()) {
    thread->join();
    return absl::Status(confined->second.code(),
                        absl::StrFormat("cannot confine the controller thread of VM %s: %s",
                                        spec_.name, confined->second.message()));
  }
  channel_ = std::move(channel);
  controller_ = *std::move(thread);
  return absl::OkStatus();
}

void Vm::EndControllerLocked() {
  restart_pending_ = false;
  if (channel_ != nullptr) {
    absl::MutexLock lock(&channel_->mu);
    channel_->quit = true;
  }
  channel_.reset();
}

void Vm::ControllerLoop(const std::shared_ptr<Channel>& channel) {
  while (true) {
    GuestEvent event;
    bool restart_due = false;
    {
      absl::MutexLock lock(&channel->mu);
      auto ready = [&channel]() ABSL_SHARED_LOCKS_REQUIRED(channel->mu) {
        return channel->quit || !channel->events.empty();
      };
      channel->mu.AwaitWithDeadline(absl::Condition(&ready), channel->restart_at);
      if (channel->quit) return;
      if (!channel->events.empty()) {
        event = std::move(channel->events.front());
        channel->events.pop_front();
      } else if (absl::Now() >= channel->restart_at) {
        channel->restart_at = absl::InfiniteFuture();
        restart_due = true;
      } else {
        continue;
      }
    }
    if (!(restart_due ? RestartAfterBackoff(channel) : HandleGuestEvent(channel, event))) return;
  }
}

bool Vm::HandleGuestEvent(const std::shared_ptr<Channel>& channel, const GuestEvent& event) {
  absl::MutexLock op(&op_mu_);
  // From a machine already gone: Stop or Shutdown has told this thread to end meanwhile.
  if (shut_down_ || event.generation != generation_) return true;
  {
    absl::MutexLock lock(&mu_);
    if (state_ != VmState::kRunning) return true;
  }
  bool go_on = false;
  if (event.failed) {
    LogError("%s: vCPU %u failed: %s", spec_.name, event.vcpu, event.status.ToString());
    (void)TearDownLocked(/*failed=*/true, absl::StrFormat("vCPU %u failed: %s", event.vcpu,
                                                          event.status.ToString()));
  } else {
    switch (event.event.type) {
      case core::SystemEventExit::Type::kShutdown:
        LogInfo("%s: guest powered off", spec_.name);
        (void)TearDownLocked(/*failed=*/false, "guest powered off");
        break;
      case core::SystemEventExit::Type::kReset:
        go_on = HandleResetLocked(channel);
        break;
      case core::SystemEventExit::Type::kCrash:
        (void)TearDownLocked(/*failed=*/true, "guest crashed (PSCI system event CRASH)");
        break;
      case core::SystemEventExit::Type::kOther:
        (void)TearDownLocked(/*failed=*/true, absl::StrFormat("unexpected guest system event %u",
                                                              event.event.raw_type));
        break;
    }
  }
  if (!go_on && channel_ == channel) {
    EndControllerLocked();  // the VM stopped: this thread ends; the next Start or Shutdown joins it
  }
  if (!go_on) SetShouldRun(false);  // stopped by its guest (or a failure): stays down
  return go_on;
}

bool Vm::HandleResetLocked(const std::shared_ptr<Channel>& channel) {
  const RestartDecision decision = DecideRestart(restart_policy_, absl::Now(), &resets_);
  if (!decision.restart) {
    LogError("%s: %s", spec_.name, decision.reason);
    (void)TearDownLocked(/*failed=*/true, decision.reason);
    return false;
  }
  LogInfo("%s: guest requested a reset; restarting%s", spec_.name,
          decision.delay == absl::ZeroDuration()
              ? ""
              : absl::StrFormat(" in %s (reset %u within %s)", absl::FormatDuration(decision.delay),
                                decision.resets, absl::FormatDuration(restart_policy_.window)));
  (void)TearDownLocked(/*failed=*/false, decision.reason);
  {
    absl::MutexLock lock(&mu_);
    ++restarts_;
  }
  if (decision.delay > absl::ZeroDuration()) {
    restart_pending_ = true;
    absl::MutexLock lock(&channel->mu);
    channel->restart_at = absl::Now() + decision.delay;
    return true;
  }
  if (absl::Status s = BootLocked(); !s.ok()) {
    LogError("%s: restart after guest reset failed: %s", spec_.name, s.ToString());
    return false;
  }
  return true;
}

bool Vm::RestartAfterBackoff(const std::shared_ptr<Channel>& channel) {
  absl::MutexLock op(&op_mu_);
  // Cancelled (Stop, Shutdown) or overtaken (Start): nothing to do here.
  if (shut_down_ || !restart_pending_ || channel_ != channel) return true;
  restart_pending_ = false;
  if (absl::Status s = BootLocked(); !s.ok()) {
    LogError("%s: restart after guest reset failed: %s", spec_.name, s.ToString());
    EndControllerLocked();
    SetShouldRun(false);
    return false;
  }
  return true;
}

absl::Status Vm::BootLocked() {
  {
    absl::MutexLock lock(&mu_);
    VMMD_RETURN_IF_ERROR(TransitionLocked(VmEvent::kStart, ""));
  }
  restart_pending_ = false;
  ++generation_;
  // The controller thread first: a host out of threads fails the start before any KVM work.
  absl::Status status = EnsureControllerLocked();
  auto sink = std::make_shared<Sink>(this, generation_, channel_);
  MachineOptions options;
  // The spec's files are opened again, under the image directories as at CreateVm: one swapped
  // since (for a symlink, a FIFO, a directory...) is refused here.
  static const ConfinedDirs kNoDirs;
  absl::StatusOr<VmSpecFiles> files =
      OpenVmSpecFiles(spec_, image_dirs_ != nullptr ? *image_dirs_ : kNoDirs);
  if (status.ok()) status = files.status();
  if (status.ok() && !state_dir_.empty()) {
    // <state_dir>/<name>: the root may not exist yet on a fresh host.
    const std::string root = state_dir_.substr(0, state_dir_.rfind('/'));
    for (const std::string& dir : {root, state_dir_}) {
      if (!dir.empty() && mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        status = ErrnoStatus(errno, absl::StrFormat("create state directory %s", dir));
        break;
      }
    }
    options.console_dir = state_dir_;
    if (!spec_.firmware_path.empty()) options.vars_path = state_dir_ + "/efivars.fd";
  }
  {
    // The VM comes back at the size it was scaled to (Machine::Build keeps a device-tree VM at
    // its boot vCPUs).
    absl::MutexLock lock(&mu_);
    options.plugged_vcpus = target_vcpus_;
  }
  options.firmware_images = firmware_images_.get();
  absl::StatusOr<std::unique_ptr<Machine>> machine =
      status.ok() ? Machine::Build(spec_, std::move(*files), hypervisor_, std::move(sink), options)
                  : status;
  status = machine.ok() ? (*machine)->Start() : machine.status();
  absl::MutexLock lock(&mu_);
  if (!status.ok()) {
    (void)TransitionLocked(VmEvent::kBootFailed,
                           absl::StrFormat("start failed: %s", status.message()));
    stopped_at_ = absl::Now();
    if (machine.ok()) machine->reset();  // a half-built machine
    return status;
  }
  machine_ = std::move(*machine);
  (void)TransitionLocked(VmEvent::kBooted, "");
  started_at_ = absl::Now();
  LogInfo("%s: running (%u of %u vCPUs at boot, %u MiB)", spec_.name, spec_.boot_vcpus,
          spec_.max_vcpus, spec_.memory_mib);
  return absl::OkStatus();
}

absl::Status Vm::TearDownLocked(bool failed, std::string reason) {
  Machine* machine = nullptr;
  {
    absl::MutexLock lock(&mu_);
    VMMD_RETURN_IF_ERROR(TransitionLocked(VmEvent::kHalt, reason));
    machine = machine_.get();
  }
  if (machine != nullptr) machine->Stop();  // joins vCPU threads; readers may still snapshot
  std::shared_ptr<Machine> dead_machine;
  {
    absl::MutexLock lock(&mu_);
    if (machine_ != nullptr) FoldLocked(*machine_);
    dead_machine = std::move(machine_);
    (void)TransitionLocked(failed ? VmEvent::kCrashed : VmEvent::kHalted, std::move(reason));
    stopped_at_ = absl::Now();
  }
  dead_machine.reset();  // frees KVM and guest RAM outside mu_ (or when the last waiter leaves)
  return absl::OkStatus();
}

absl::Status Vm::Start() {
  std::thread ended;  // joined without op_mu_: it may be waiting for op_mu_ right now
  absl::Status status;
  {
    absl::MutexLock op(&op_mu_);
    if (shut_down_) return absl::NotFoundError(absl::StrFormat("VM %s was deleted", spec_.name));
    if (!unusable_.ok()) {
      return absl::FailedPreconditionError(
          absl::StrFormat("VM %s cannot start: %s; delete it and create it again", spec_.name,
                          unusable_.message()));
    }
    status = BootLocked();
    if (status.ok()) SetShouldRun(true);
    bool stopped = false;
    {
      absl::MutexLock lock(&mu_);
      stopped = machine_ == nullptr;
    }
    if (!status.ok() && stopped) {
      EndControllerLocked();
      ended = std::move(controller_);
    }
  }
  if (ended.joinable()) ended.join();
  return status;
}

absl::StatusOr<ScaleResult> Vm::ScaleVcpus(uint32_t target, core::ScaleWait wait,
                                           absl::Time deadline) {
  LogDebug("%s: scale request: target %u, wait %s", spec_.name, target, core::ScaleWaitName(wait));
  std::shared_ptr<Machine> machine;
  core::ScalePlan plan;
  bool target_changed = false;
  {
    absl::MutexLock op(&op_mu_);
    if (shut_down_) return absl::NotFoundError(absl::StrFormat("VM %s was deleted", spec_.name));
    absl::MutexLock lock(&mu_);
    auto rejected = [this](absl::Status s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      ++carried_.requests(ScaleDirection::kNone, ScaleResultKind::kRejected);
      return s;
    };
    if (state_ != VmState::kRunning) {
      return rejected(absl::FailedPreconditionError(
          absl::StrFormat("VM %s is %s; vCPUs can be scaled only while it is RUNNING", spec_.name,
                          VmStateName(state_))));
    }
    machine = machine_;
    absl::StatusOr<core::ScalePlan> p = machine->Scale(target);
    if (!p.ok()) return rejected(p.status());
    plan = std::move(*p);
    target_changed = target_vcpus_ != plan.target;
    target_vcpus_ = plan.target;
  }
  if (target_changed) SaveRecordOrLog();
  const ScaleDirection direction = !plan.added.empty()     ? ScaleDirection::kAdd
                                   : !plan.removed.empty() ? ScaleDirection::kRemove
                                                           : ScaleDirection::kNone;
  if (direction != ScaleDirection::kNone) {
    LogInfo("%s: scale %u -> %u vCPUs (wait %s)", spec_.name, plan.previous, plan.target,
            core::ScaleWaitName(wait));
  }
  // Waiting happens outside every VM lock: a superseding request, GetVm and Stop go on.
  core::ScaleOutcome outcome = core::ScaleOutcome::kOk;
  absl::Status waited = machine->AwaitScale(plan.generation, wait, deadline, &outcome);
  std::vector<ThreadCpuTime> carried;
  {
    absl::MutexLock lock(&mu_);
    ++carried_.requests(direction, ScaleResultKindOf(outcome));
    carried = carried_cpu_;
  }
  if (!waited.ok()) return waited;
  return ScaleResult{plan.previous, plan.target, WithCarried(machine->Snapshot(), carried)};
}

void Vm::Shutdown() {
  std::thread ended;  // joined without op_mu_: it may be waiting for op_mu_ right now
  {
    absl::MutexLock op(&op_mu_);
    if (!shut_down_) {
      shut_down_ = true;
      bool running = false;
      {
        absl::MutexLock lock(&mu_);
        running = machine_ != nullptr;
      }
      if (running) (void)TearDownLocked(/*failed=*/false, "deleted");
    }
    EndControllerLocked();
    ended = std::move(controller_);
  }
  if (ended.joinable()) ended.join();
}

void Vm::RemoveState() {
  if (state_dir_.empty()) return;
  for (const char* name : {"efivars.fd", hw::ConsoleLog::kFileName, hw::ConsoleLog::kRotatedName}) {
    const std::string file = absl::StrCat(state_dir_, "/", name);
    if (unlink(file.c_str()) != 0 && errno != ENOENT) {
      LogWarning("%s: removing %s: %s", spec_.name, file, ErrnoStatus(errno, "unlink").message());
    }
  }
  if (rmdir(state_dir_.c_str()) != 0 && errno != ENOENT) {
    LogWarning("%s: removing %s: %s", spec_.name, state_dir_, ErrnoStatus(errno, "rmdir").message());
  }
}

void Vm::FoldLocked(const Machine& machine) {
  const std::vector<core::VcpuInfo> vcpus = machine.Snapshot();
  for (const core::VcpuInfo& v : vcpus) {
    if (v.id < carried_cpu_.size()) {
      carried_cpu_[v.id] += ThreadCpuTime{.run_ns = v.busy_ns, .wait_ns = v.delay_ns};
    }
    carried_.exits += v.exits;
    carried_.mmio_exits += v.mmio_exits;
    carried_.hypercall_exits += v.hypercall_exits;
  }
  carried_.vcpus += machine.VcpuStats();
  carried_.unmapped_mmio += machine.UnmappedMmio();
}

std::vector<core::VcpuInfo> Vm::WithCarried(std::vector<core::VcpuInfo> vcpus,
                                            const std::vector<ThreadCpuTime>& carried) {
  for (core::VcpuInfo& v : vcpus) {
    if (v.id >= carried.size()) continue;
    v.busy_ns += carried[v.id].run_ns;
    v.delay_ns += carried[v.id].wait_ns;
  }
  return vcpus;
}

VmStats Vm::Stats() const {
  std::shared_ptr<Machine> machine;
  VmStats stats;
  {
    absl::MutexLock lock(&mu_);
    machine = machine_;
    stats = carried_;
  }
  if (machine == nullptr) return stats;
  for (const core::VcpuInfo& v : machine->Snapshot()) {
    stats.exits += v.exits;
    stats.mmio_exits += v.mmio_exits;
    stats.hypercall_exits += v.hypercall_exits;
  }
  stats.vcpus += machine->VcpuStats();
  stats.unmapped_mmio += machine->UnmappedMmio();
  return stats;
}

absl::Status Vm::SetAutoscalePolicy(const AutoscalePolicy& policy) {
  if (!unusable_.ok()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("VM %s cannot be changed: %s", spec_.name, unusable_.message()));
  }
  VmSpec spec = spec_;
  if (spec.max_vcpus == 0) spec.max_vcpus = spec.boot_vcpus;
  absl::StatusOr<AutoscalePolicy> resolved = ResolveAutoscalePolicy(policy, spec, "policy");
  if (!resolved.ok()) return resolved.status();
  {
    absl::MutexLock lock(&mu_);
    autoscale_ = *resolved;
    autoscale_status_ = AutoscaleStatus{};
    LogInfo("%s: autoscale policy: %s, %u..%u vCPUs, target utilisation %.2f", spec_.name,
            AutoscaleModeName(resolved->mode), resolved->min_vcpus, resolved->max_vcpus,
            resolved->target_utilization);
    if (hub_ != nullptr) {
      WatchEvent e;
      e.time = absl::Now();
      e.vm = spec_.name;
      e.kind = WatchEvent::Kind::kAutoscalePolicy;
      e.autoscale = *resolved;
      hub_->Publish(std::move(e));
    }
  }
  SaveRecordOrLog();
  return absl::OkStatus();
}

absl::Status Vm::ReportAutoscaleStatus(AutoscaleStatus status) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = ValidateAutoscaleStatus(status, autoscale_, spec_); !s.ok()) return s;
  status.present = true;
  status.report_time = absl::Now();
  autoscale_status_ = std::move(status);
  return absl::OkStatus();
}

VmInfo Vm::Info() const {
  absl::MutexLock lock(&mu_);
  VmInfo info;
  info.spec = spec_;
  info.spec.max_vcpus = spec_.max_vcpus == 0 ? spec_.boot_vcpus : spec_.max_vcpus;
  info.state = state_;
  info.state_reason = reason_;
  info.created_at = created_at_;
  info.started_at = started_at_;
  info.stopped_at = stopped_at_;
  info.restarts = restarts_;
  info.target_vcpus = target_vcpus_;
  info.autoscale = autoscale_;
  info.autoscale_status = autoscale_status_;
  if (!state_dir_.empty()) {
    info.console_log_path = absl::StrCat(state_dir_, "/", hw::ConsoleLog::kFileName);
  }
  if (machine_ != nullptr) {
    info.online_vcpus = machine_->OnlineCount();
    info.unmapped_mmio = machine_->UnmappedMmio();
    info.disks = machine_->DiskCounters();
    info.nics = machine_->NicCounters();
  }
  return info;
}

absl::StatusOr<std::vector<core::VcpuInfo>> Vm::CpuState() const {
  std::shared_ptr<Machine> machine;
  std::vector<ThreadCpuTime> carried;
  {
    absl::MutexLock lock(&mu_);
    machine = machine_;
    carried = carried_cpu_;
  }
  // The snapshot reads running threads' CPU time from the kernel: outside mu_.
  if (machine != nullptr) return WithCarried(machine->Snapshot(), carried);
  // Not running: every possible vCPU exists only on paper (with what its threads ran before).
  std::vector<core::VcpuInfo> out;
  const uint32_t max_vcpus = spec_.max_vcpus == 0 ? spec_.boot_vcpus : spec_.max_vcpus;
  for (uint32_t i = 0; i < max_vcpus; ++i) {
    core::VcpuInfo v;
    v.id = i;
    v.boot = i < spec_.boot_vcpus;
    v.state = v.boot ? core::VcpuState::kOffline : core::VcpuState::kParked;
    v.acpi_enabled = v.boot;
    out.push_back(v);
  }
  return WithCarried(std::move(out), carried);
}

}  // namespace vmmd::vmm
