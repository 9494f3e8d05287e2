#include "core/vcpu/vcpu_manager.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <utility>
#include <variant>

#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "core/common/log.h"
#include "core/common/status_macros.h"
#include "core/common/thread.h"
#include "core/common/thread_sandbox.h"

namespace vmmd::core {

VcpuManager::VcpuManager(std::string name, std::vector<VcpuSetup> vcpus, VcpuFeatures features,
                         Bus* bus, VcpuEventSink* sink)
    : name_(std::move(name)),
      features_(VcpuFeatures{.power_off = false, .pmu_v3 = features.pmu_v3}),
      bus_(bus),
      sink_(sink) {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  for (VcpuSetup& v : vcpus) {
    auto slot = std::make_unique<Slot>();
    slot->id = static_cast<uint32_t>(slots_.size());
    slot->handle = std::move(v.handle);
    slot->mpidr = v.mpidr;
    slot->life = InitialVcpuLife(v.boot, now, v.plugged);
    slots_.push_back(std::move(slot));
  }
}

VcpuManager::~VcpuManager() { StopAll(); }

absl::Status VcpuManager::StartBootVcpu(uint64_t pc, uint64_t x0) {
  absl::MutexLock lock(&mu_);
  if (slots_.empty() || !slots_[0]->life.boot) {
    return absl::FailedPreconditionError("vCPU 0 is not a boot vCPU");
  }
  return PowerOnLocked(slots_[0].get(), pc, x0, "boot");
}

void VcpuManager::StopAll() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& slot : slots_) {
      slot->stop.store(true);
      if (slot->thread.joinable()) {
        slot->handle->Kick();
        threads.push_back(std::move(slot->thread));
      }
    }
  }
  // Joined without mu_: a thread may be waiting for mu_ in CpuOn/CpuOff right now.
  for (std::thread& t : threads) t.join();
}

std::vector<VcpuInfo> VcpuManager::Snapshot() const {
  // Running threads' CPU time is read without the lock: first which threads run, then their
  // schedstat, then (locked) whether each is still the same thread — one that ended meanwhile
  // added its final time to the base, which is then the whole answer.
  struct Live {
    std::shared_ptr<const ThreadCpuClock> clock;  // keeps the file open while it is read
    uint64_t epoch = 0;
    ThreadCpuTime now;
    bool read = false;
  };
  std::vector<Live> live(slots_.size());
  {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (!slots_[i]->cpu_live) continue;
      live[i].clock = slots_[i]->cpu_clock;
      live[i].epoch = slots_[i]->cpu_epoch;
    }
  }
  for (Live& l : live) {
    if (l.clock == nullptr) continue;
    absl::StatusOr<ThreadCpuTime> t = l.clock->Read();
    if (t.ok()) {
      l.now = *t;
      l.read = true;
    }
  }
  absl::MutexLock lock(&mu_);
  std::vector<VcpuInfo> out;
  out.reserve(slots_.size());
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = *slots_[i];
    VcpuInfo info;
    info.id = static_cast<uint32_t>(i);
    info.mpidr = s.mpidr;
    info.state = s.life.state;
    info.boot = s.life.boot;
    info.acpi_enabled = AcpiEnabled(s.life);
    info.power = s.life.powered ? PsciPower::kOn : PsciPower::kOff;
    info.thread_id = s.tid.load();
    info.exits = s.exits.load(std::memory_order_relaxed);
    info.mmio_exits = s.mmio_exits.load(std::memory_order_relaxed);
    info.hypercall_exits = s.hypercall_exits.load(std::memory_order_relaxed);
    ThreadCpuTime cpu = s.cpu_base;
    if (live[i].read && s.cpu_live && s.cpu_epoch == live[i].epoch) cpu += live[i].now;
    info.busy_ns = cpu.run_ns;
    info.delay_ns = cpu.wait_ns;
    info.last_transition = s.life.since;
    out.push_back(info);
  }
  return out;
}

uint32_t VcpuManager::OnlineCount() const {
  absl::MutexLock lock(&mu_);
  uint32_t n = 0;
  for (const auto& s : slots_) n += s->life.state == VcpuState::kOnline ? 1 : 0;
  return n;
}

void VcpuManager::CommitLocked(Slot* slot, const VcpuLife& next, std::string_view cause) {
  if (next == slot->life) return;
  const VcpuLife prev = slot->life;
  slot->life = next;
  ++guest_progress_;
  // Hotplug phases, measured from the request.
  if (prev.change == VcpuChange::kAdd) {
    if (prev.step != VcpuStep::kTaken && next.step == VcpuStep::kTaken) {
      stats_.phase(HotplugPhase::kTaken).Observe(next.step_at - next.requested_at);
    }
    if (prev.state == VcpuState::kEnabling && next.state == VcpuState::kEnabled) {
      stats_.phase(HotplugPhase::kEnabled).Observe(next.since - next.requested_at);
    }
    if (next.change == VcpuChange::kNone && next.state == VcpuState::kOnline) {
      stats_.phase(HotplugPhase::kOnline).Observe(next.since - next.requested_at);
    }
  } else if (prev.change == VcpuChange::kRemove && next.change == VcpuChange::kNone &&
             next.state == VcpuState::kParked) {
    stats_.phase(HotplugPhase::kParked).Observe(next.since - next.requested_at);
  }
  if (prev.state != next.state) {
    LogDebug("%s: vCPU %u %s -> %s (%s)", name_, slot->id, VcpuStateName(prev.state),
             VcpuStateName(next.state), cause);
    sink_->OnVcpuTransition(
        VcpuTransition{slot->id, prev.state, next.state, next.since, std::string(cause)});
  }
}

void VcpuManager::EndThreadCpuLocked(Slot* slot) {
  if (!slot->cpu_live) return;
  absl::StatusOr<ThreadCpuTime> t =
      slot->cpu_clock != nullptr ? slot->cpu_clock->Read() : ReadOwnThreadCpuTime();
  if (t.ok()) {
    slot->cpu_base += *t;
  } else {
    LogWarning("%s: vCPU %u: no CPU time for its thread: %s", name_, slot->id,
               t.status().ToString());
  }
  slot->cpu_live = false;
  slot->cpu_clock.reset();  // closed once no Snapshot holds it any more
  ++slot->cpu_epoch;
}

absl::Status VcpuManager::ApplyLocked(Slot* slot, VcpuInput input, std::string_view cause) {
  if (input.now == absl::InfinitePast()) input.now = absl::Now();
  VMMD_ASSIGN_OR_RETURN(VcpuLife next, NextVcpuLife(slot->life, input));
  CommitLocked(slot, next, cause);
  return absl::OkStatus();
}

VcpuManager::Slot* VcpuManager::FindByMpidrLocked(uint64_t mpidr) {
  for (auto& s : slots_) {
    if ((s->mpidr & psci::kMpidrAffinityMask) == mpidr) return s.get();
  }
  return nullptr;
}

absl::Status VcpuManager::PowerOnLocked(Slot* slot, uint64_t pc, uint64_t x0,
                                        std::string_view cause) {
  if (stopping_) return absl::FailedPreconditionError("VM is stopping");
  VMMD_ASSIGN_OR_RETURN(const VcpuLife next,
                        NextVcpuLife(slot->life, {.event = VcpuEvent::kCpuOn, .now = absl::Now()}));
  // A previous thread of this vCPU has finished its CPU_OFF (powered == false) and only has
  // to return; reap it before starting the next one.
  if (slot->thread.joinable()) slot->thread.join();
  VcpuHandle& v = *slot->handle;
  VMMD_RETURN_IF_ERROR(v.Init(features_));
  VMMD_RETURN_IF_ERROR(v.SetReg(Reg::kPc, pc));
  VMMD_RETURN_IF_ERROR(v.SetReg(Reg::kX0, x0));
  VMMD_RETURN_IF_ERROR(v.SetMpState(MpState::kRunnable));
  slot->stop.store(false);
  // The thread publishes its TID and opens its CPU clock before anything else; waiting for
  // that (microseconds; the new thread takes no lock first) makes GetCPUState right after
  // CPU_ON show it.
  struct Started {
    absl::Notification done;
    absl::StatusOr<std::shared_ptr<const ThreadCpuClock>> clock;
    absl::Status sandbox;
  };
  auto started = std::make_shared<Started>();
  absl::StatusOr<std::thread> thread =
      StartThread(absl::StrFormat("vCPU %u of %s", slot->id, name_), [this, slot, started] {
        slot->tid.store(static_cast<int64_t>(syscall(SYS_gettid)));
        started->clock = ThreadCpuClock::OpenForCallingThread();
        // Confined (vmmd: its seccomp filter) before the guest runs, after the one file the
        // thread opens for itself.
        const absl::Status sandbox = EnterThreadSandbox(ThreadRole::kVcpu);
        started->sandbox = sandbox;
        started->done.Notify();
        if (sandbox.ok()) RunLoop(slot);
      });
  if (!thread.ok()) {
    // The vCPU stays off in KVM too (AFFINITY_INFO agrees); its life was not committed.
    (void)v.SetMpState(MpState::kStopped);
    return thread.status();
  }
  slot->thread = *std::move(thread);
  started->done.WaitForNotification();
  if (!started->sandbox.ok()) {
    // The thread ended without running the guest; the vCPU stays off.
    slot->thread.join();
    (void)v.SetMpState(MpState::kStopped);
    return absl::Status(started->sandbox.code(),
                        absl::StrFormat("vCPU %u: cannot confine its thread: %s", slot->id,
                                        started->sandbox.message()));
  }
  if (started->clock.ok()) {
    slot->cpu_clock = *std::move(started->clock);
  } else {
    LogWarning("%s: vCPU %u: its CPU time will not be live: %s", name_, slot->id,
               started->clock.status().ToString());
  }
  slot->cpu_live = true;
  // The thread cannot observe the life before this: its CPU_OFF needs mu_.
  CommitLocked(slot, next, cause);
  return absl::OkStatus();
}

psci::Return VcpuManager::CpuOn(uint32_t caller, const psci::CpuOnArgs& args) {
  const absl::Time start = absl::Now();
  absl::Status failure;  // logged after mu_ is released
  psci::Return verdict = DecideCpuOn(args, &failure);
  if (!failure.ok()) {
    if (const uint64_t n = failed_cpu_on_.Count(); n != 0) {
      LogError("%s: CPU_ON of MPIDR 0x%x failed (%u so far): %s; answered INTERNAL_FAILURE", name_,
               args.target_mpidr, n, failure.ToString());
    }
  }
  LogDebug("%s: vCPU %u CPU_ON(0x%x, entry 0x%x) -> %s in %d us", name_, caller, args.target_mpidr,
           args.entry, psci::ReturnName(verdict), absl::ToInt64Microseconds(absl::Now() - start));
  return verdict;
}

psci::Return VcpuManager::DecideCpuOn(const psci::CpuOnArgs& args, absl::Status* failure) {
  absl::MutexLock lock(&mu_);
  Slot* target = FindByMpidrLocked(args.target_mpidr);
  psci::Return verdict =
      psci::CpuOnVerdict(args.target_mpidr, target != nullptr ? &target->life : nullptr);
  if (target != nullptr && !target->life.boot) hotplug_evidence_ = true;
  if (verdict == psci::Return::kSuccess && stopping_) verdict = psci::Return::kDenied;
  if (verdict == psci::Return::kSuccess) {
    *failure = PowerOnLocked(target, args.entry, args.context_id, "guest CPU_ON");
    if (!failure->ok()) verdict = psci::Return::kInternalFailure;
  }
  switch (verdict) {
    case psci::Return::kSuccess:
      ++stats_.cpu_on.granted;
      break;
    case psci::Return::kDenied:
      ++stats_.cpu_on.denied;
      break;
    case psci::Return::kAlreadyOn:
      ++stats_.cpu_on.already_on;
      break;
    case psci::Return::kInvalidParams:
      ++stats_.cpu_on.invalid_params;
      break;
    default:
      ++stats_.cpu_on.internal_failure;
      break;
  }
  return verdict;
}

absl::Status VcpuManager::CpuOff(uint32_t caller) {
  absl::MutexLock lock(&mu_);
  if (caller >= slots_.size()) return absl::InvalidArgumentError("no such vCPU");
  Slot* slot = slots_[caller].get();
  VMMD_ASSIGN_OR_RETURN(const VcpuLife next, NextVcpuLife(slot->life, {.event = VcpuEvent::kCpuOff,
                                                                       .now = absl::Now()}));
  // STOPPED before anyone can observe "off": KVM's in-kernel AFFINITY_INFO must agree.
  VMMD_RETURN_IF_ERROR(slot->handle->SetMpState(MpState::kStopped));
  EndThreadCpuLocked(slot);  // on the vCPU's own thread, which is about to end
  slot->tid.store(0);
  CommitLocked(slot, next, "guest CPU_OFF");
  return absl::OkStatus();
}

void VcpuManager::HandleMmio(Slot* slot, const MmioExit& mmio) {
  slot->mmio_exits.fetch_add(1, std::memory_order_relaxed);
  const size_t len = mmio.len <= 8 ? mmio.len : 8;
  if (mmio.is_write) {
    bus_->Write(mmio.addr, absl::MakeConstSpan(mmio.data.data(), len));
  } else {
    std::array<uint8_t, 8> data{};
    bus_->Read(mmio.addr, absl::MakeSpan(data.data(), len));
    slot->handle->SetMmioReadData(absl::MakeConstSpan(data.data(), len));
  }
}

VcpuManager::LoopAction VcpuManager::HandleHypercall(Slot* slot, const HypercallExit& call) {
  slot->hypercall_exits.fetch_add(1, std::memory_order_relaxed);
  const uint32_t id = slot->id;
  VcpuHandle& v = *slot->handle;
  switch (psci::Classify(call.function_id)) {
    case psci::Call::kCpuOn: {
      auto x1 = v.GetReg(Reg::kX1);
      auto x2 = v.GetReg(Reg::kX2);
      auto x3 = v.GetReg(Reg::kX3);
      if (!x1.ok() || !x2.ok() || !x3.ok()) {
        sink_->OnVcpuFailed(id, !x1.ok() ? x1.status() : !x2.ok() ? x2.status() : x3.status());
        return LoopAction::kEnd;
      }
      psci::Return r = CpuOn(id, psci::DecodeCpuOn(call.function_id, *x1, *x2, *x3));
      if (absl::Status s = v.SetReg(Reg::kX0, psci::EncodeReturn(r)); !s.ok()) {
        sink_->OnVcpuFailed(id, s);
        return LoopAction::kEnd;
      }
      return LoopAction::kContinue;
    }
    case psci::Call::kCpuOff: {
      absl::Status s = CpuOff(id);
      if (s.ok()) return LoopAction::kPoweredOff;  // CPU_OFF does not return: the thread ends here
      LogWarning("%s: vCPU %u CPU_OFF refused: %s", name_, id, s.ToString());
      if (absl::Status w = v.SetReg(Reg::kX0, psci::EncodeReturn(psci::Return::kDenied)); !w.ok()) {
        sink_->OnVcpuFailed(id, w);
        return LoopAction::kEnd;
      }
      return LoopAction::kContinue;
    }
    case psci::Call::kOther:
      break;
  }
  if (absl::Status s = v.SetReg(Reg::kX0, psci::EncodeReturn(psci::Return::kNotSupported));
      !s.ok()) {
    sink_->OnVcpuFailed(id, s);
    return LoopAction::kEnd;
  }
  return LoopAction::kContinue;
}

void VcpuManager::RunLoop(Slot* slot) {
  const uint32_t id = slot->id;
  SetCurrentThreadName(absl::StrFormat("%s/%u", name_.substr(0, 10), id));

  bool keep_running = true;
  bool powered_off = false;
  while (keep_running && !slot->stop.load()) {
    absl::StatusOr<VcpuExit> exit = slot->handle->Run();
    if (!exit.ok()) {
      sink_->OnVcpuFailed(id, exit.status());
      break;
    }
    slot->exits.fetch_add(1, std::memory_order_relaxed);
    if (auto* mmio = std::get_if<MmioExit>(&*exit)) {
      HandleMmio(slot, *mmio);
    } else if (auto* call = std::get_if<HypercallExit>(&*exit)) {
      const LoopAction action = HandleHypercall(slot, *call);
      keep_running = action == LoopAction::kContinue;
      powered_off = action == LoopAction::kPoweredOff;
    } else if (auto* event = std::get_if<SystemEventExit>(&*exit)) {
      sink_->OnGuestSystemEvent(id, *event);
      keep_running = false;
    } else if (auto* bad = std::get_if<UnhandledExit>(&*exit)) {
      sink_->OnVcpuFailed(id, absl::InternalError(absl::StrFormat(
                                  "vCPU %u: unhandled exit %u: %s", id, bad->reason, bad->detail)));
      keep_running = false;
    }
    // InterruptedExit: re-check stop and go on.
  }
  // A CPU_OFF accounted for the thread already, under the lock; taking it here could deadlock
  // with a CPU_ON that joins this thread while holding it. Any other end (stop, failure, a
  // system event) leaves the vCPU powered on, so no CPU_ON can be joining it.
  if (!powered_off) {
    absl::MutexLock lock(&mu_);
    EndThreadCpuLocked(slot);
  }
  slot->tid.store(0);
}

}  // namespace vmmd::core
