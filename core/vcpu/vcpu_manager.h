// Owns a VM's vCPUs: their handles, their lifecycle (the one state machine in vcpu_state.h,
// whose result is the only thing assigned to it), and their threads. A vCPU has a thread exactly
// while it is powered on in the guest's PSCI view; a parked or powered-off vCPU costs an fd and no
// thread.
//
// Threads: each running vCPU's thread runs RunLoop (KVM_RUN, MMIO to the bus, forwarded PSCI
// calls). PSCI CPU_ON/CPU_OFF take mu_ briefly; API callers take mu_ for snapshots and
// StopAll. Nothing blocks while holding mu_ except short vCPU ioctls on vCPUs that have no
// running thread (so they cannot be inside KVM_RUN).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/bus/bus.h"
#include "core/common/log.h"
#include "core/common/thread_cpu_time.h"
#include "core/hypervisor/hypervisor.h"
#include "core/vcpu/cpu_hotplug_backend.h"
#include "core/vcpu/psci.h"
#include "core/vcpu/vcpu_info.h"
#include "core/vcpu/vcpu_state.h"
#include "core/vcpu/vcpu_stats.h"

namespace vmmd::core {

struct VcpuTransition {
  uint32_t vcpu = 0;
  VcpuState from = VcpuState::kParked;
  VcpuState to = VcpuState::kParked;
  absl::Time time;
  std::string cause;  // "api", "guest CPU_ON", "guest _EJ0", ...
};

// What a VM's vCPUs report upwards.
class VcpuEventSink {
 public:
  virtual ~VcpuEventSink() = default;
  // The guest powered off / reset / crashed; the VM controller reacts on its own thread.
  virtual void OnGuestSystemEvent(uint32_t vcpu, const SystemEventExit& event) = 0;
  virtual void OnVcpuFailed(uint32_t vcpu, const absl::Status& status) = 0;
  // Every lifecycle transition. Called with the manager's lock held: must not block or call
  // back into the manager.
  virtual void OnVcpuTransition(const VcpuTransition& transition) { (void)transition; }
};

// How long ScaleVCPUs waits.
enum class ScaleWait {
  kNone,     // return once the change is requested (the guest is notified)
  kEnabled,  // until the guest has consumed every hot-add event and every removal completed
  kOnline,   // until every hot-added vCPU runs (guest CPU_ON) and every removal completed
};

std::string_view ScaleWaitName(ScaleWait wait);  // "none", "enabled", "online"

// How a ScaleVCPUs request's wait ended.
enum class ScaleOutcome {
  kOk,
  kDeadlineExceeded,  // the guest had not finished by the deadline
  kRefused,           // the guest's _OST refused a vCPU
  kUnsupported,       // the guest lacks arm64 vCPU hotplug (took the event, did nothing)
  kSuperseded,        // a newer request replaced it
  kStopped,           // the VM stopped while it waited
};
std::string_view ScaleOutcomeName(ScaleOutcome outcome);  // "ok", "deadline_exceeded", ...

// Linux >= 6.11 reports a hot-added CPU registered (_OST for the Device Check) well under a
// second after its scan took the event (0.2 s in the nested bed); a guest that takes the event
// but never reports has no arm64 vCPU hotplug (Linux 6.1 does exactly that).
inline constexpr absl::Duration kRegistrationGrace = absl::Seconds(10);

struct ScalePlan {
  uint32_t previous = 0;        // vCPUs available to the guest before the request
  uint32_t target = 0;
  std::vector<uint32_t> added;    // vCPUs offered to the guest (lowest parked ids)
  std::vector<uint32_t> removed;  // vCPUs taken away (highest hot-added ids)
  uint64_t generation = 0;        // identifies the request; a newer one supersedes it
  bool notify_guest = false;      // a hotplug event is pending: raise the GED
};

struct VcpuSetup {
  std::unique_ptr<VcpuHandle> handle;
  uint64_t mpidr = 0;
  bool boot = false;
  // A non-boot vCPU the VM had been scaled to before this boot (a guest reset, a restart):
  // ENABLED from the start, its _STA enabled and no event pending, so the booting guest takes
  // it as present and powers it on (PSCI CPU_ON) like a boot vCPU; still removable.
  bool plugged = false;
};

// Also the CPU-hotplug register block's backend: every _STA bit and pending event the guest
// reads comes from the lifecycle state kept here (the one source of truth).
class VcpuManager : public CpuHotplugBackend {
 public:
  // `vcpus` are created and initialised (non-boot ones with power_off); `features` is what
  // they were initialised with (re-used, without power_off, for the reset on CPU_ON).
  // `bus` and `sink` outlive this.
  VcpuManager(std::string name, std::vector<VcpuSetup> vcpus, VcpuFeatures features, Bus* bus,
              VcpuEventSink* sink);
  ~VcpuManager();  // StopAll()
  VcpuManager(const VcpuManager&) = delete;
  VcpuManager& operator=(const VcpuManager&) = delete;

  // Powers on vCPU 0 at `pc` with x0 = `x0` and starts its thread.
  absl::Status StartBootVcpu(uint64_t pc, uint64_t x0);
  // Stops and joins every vCPU thread. Idempotent. After it, PSCI CPU_ON is DENIED.
  void StopAll();

  // Every vCPU. busy_ns/delay_ns add up every thread the vCPU had in this manager, so they never
  // go backwards across CPU_OFF/CPU_ON; a running thread's share is read from the kernel outside
  // the lock (/proc/self/task/TID/schedstat).
  std::vector<VcpuInfo> Snapshot() const;
  // What was counted since construction (hotplug phase durations, CPU_ON verdicts).
  VcpuStats Stats() const {
    absl::MutexLock lock(&mu_);
    return stats_;
  }
  uint32_t OnlineCount() const;
  // vCPUs available to the guest: boot vCPUs and every hot-added one not being removed.
  uint32_t PluggedCount() const;

  // Declarative resize: makes `target` vCPUs available to the guest, adding the lowest parked
  // ids and removing the highest hot-added ids (boot vCPUs are permanent). Idempotent: the
  // current count changes nothing. INVALID_ARGUMENT for a target below the boot vCPUs or above
  // the possible vCPUs; UNAVAILABLE if the target needs a vCPU whose removal the guest is
  // still carrying out; FAILED_PRECONDITION once stopping. The caller raises the GED when
  // plan.notify_guest.
  absl::StatusOr<ScalePlan> Scale(uint32_t target);
  // Waits until the request `generation` reached `wait`. OK; DEADLINE_EXCEEDED at `deadline`
  // with what did happen; ABORTED if a newer Scale superseded it; FAILED_PRECONDITION if the
  // guest refused a vCPU (_OST failure), took a hot-add but did not register the CPU within
  // kRegistrationGrace (a kernel without arm64 vCPU hotplug), or the VM stopped.
  // `outcome` (if not null) says which of these it was.
  absl::Status AwaitScale(uint64_t generation, ScaleWait wait, absl::Time deadline,
                          ScaleOutcome* outcome = nullptr);
  // How long a taken hot-add may stay unregistered (tests shorten it).
  void SetRegistrationGrace(absl::Duration grace) {
    absl::MutexLock lock(&mu_);
    registration_grace_ = grace;
  }
  size_t size() const { return slots_.size(); }

  // CpuHotplugBackend (called on vCPU threads, from the guest's AML).
  uint32_t PossibleCpus() const override { return static_cast<uint32_t>(slots_.size()); }
  CpuHotplugStatus Status(uint32_t cpu) const override;
  CpuHotplugStatus ReadStatus(uint32_t cpu) override;
  uint64_t ArchId(uint32_t cpu) const override;
  void AckInsert(uint32_t cpu) override;
  void AckRemove(uint32_t cpu) override;
  void Eject(uint32_t cpu) override;
  void Ost(uint32_t cpu, uint32_t event, uint32_t status) override;
  // Eject and Ost run under the register block's lock and mu_: a refused _EJ0 or a failed _OST
  // (which a guest can repeat at will) is counted and, rate-limited (kLogBurst, then every
  // kLogEvery-th), queued; this writes the queue, holding no lock while it writes.
  void FlushLog() override;

  // PSCI, called on the calling vCPU's own thread (public for tests that drive it directly).
  // A CPU_ON that cannot power the vCPU on (the host has no thread for it, a vCPU ioctl fails)
  // is INTERNAL_FAILURE: the vCPU stays off, its life unchanged, the VM runs on; the failure is
  // logged, rate-limited (kLogBurst, then every kLogEvery-th).
  psci::Return CpuOn(uint32_t caller, const psci::CpuOnArgs& args);
  // Marks the caller powered off (mp_state STOPPED); its thread must then return.
  absl::Status CpuOff(uint32_t caller);

  // How many AwaitScale calls are asleep right now, waiting for the guest (or a newer request,
  // or a stop) to change something.
  int scale_waiters() const {
    absl::MutexLock lock(&mu_);
    return scale_waiters_;
  }

 private:
  struct Slot {
    uint32_t id = 0;
    std::unique_ptr<VcpuHandle> handle;
    uint64_t mpidr = 0;
    VcpuLife life;       // guarded by mu_; assigned only by CommitLocked
    std::thread thread;  // guarded by mu_ (assignment/join)
    // CPU time of the threads that ended (guarded by mu_); `cpu_live` while the current thread
    // has not added its own yet; `cpu_epoch` counts the additions. `cpu_clock`: the current
    // thread's schedstat, open (guarded by mu_; null without a thread or if it could not be
    // opened).
    ThreadCpuTime cpu_base;
    bool cpu_live = false;
    uint64_t cpu_epoch = 0;
    std::shared_ptr<const ThreadCpuClock> cpu_clock;
    std::atomic<bool> stop{false};
    std::atomic<int64_t> tid{0};
    std::atomic<uint64_t> exits{0};
    std::atomic<uint64_t> mmio_exits{0};
    std::atomic<uint64_t> hypercall_exits{0};
  };

  void RunLoop(Slot* slot);
  enum class LoopAction { kContinue, kEnd, kPoweredOff };
  // kEnd when the vCPU failed; kPoweredOff when CPU_OFF succeeded (its CPU time is accounted).
  LoopAction HandleHypercall(Slot* slot, const HypercallExit& call);
  void HandleMmio(Slot* slot, const MmioExit& mmio);
  // CpuOn through the state machine: the vCPU is reset to `pc` with x0 = `x0`, made runnable and
  // given its thread, then the new life is committed.
  absl::Status PowerOnLocked(Slot* slot, uint64_t pc, uint64_t x0, std::string_view cause)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs `input` through the state machine and commits the result (the refusal is returned).
  absl::Status ApplyLocked(Slot* slot, VcpuInput input, std::string_view cause)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The only assignment of a slot's life: publishes a state change, records hotplug phases,
  // wakes waiters.
  void CommitLocked(Slot* slot, const VcpuLife& next, std::string_view cause)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // On the vCPU's own thread, as it ends: adds the thread's CPU time to the slot's.
  void EndThreadCpuLocked(Slot* slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Why `generation` has not reached `wait` yet ("" when it has).
  std::string ScalePendingLocked(ScaleWait wait) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // A vCPU the guest took the insert event for but has not registered after the grace
  // period (nullptr if none); `*next_expiry` gets the earliest grace expiry still running.
  Slot* UnregisteredLocked(absl::Time now, absl::Time* next_expiry) ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // A vCPU the guest reported registered more than the grace period ago but never started,
  // on a guest that has never shown any sign of vCPU hotplug support (nullptr if none, or if
  // the guest has shown it).
  Slot* UnstartedLocked(absl::Time now, absl::Time* next_expiry) ABSL_SHARED_LOCKS_REQUIRED(mu_);
  Slot* FindByMpidrLocked(uint64_t mpidr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // CpuOn's decision under mu_; `failure` gets why an accepted CPU_ON could not power the vCPU
  // on (no thread, a vCPU ioctl), which CpuOn logs once mu_ is released.
  psci::Return DecideCpuOn(const psci::CpuOnArgs& args, absl::Status* failure)
      ABSL_LOCKS_EXCLUDED(mu_);

  const std::string name_;
  const VcpuFeatures features_;
  Bus* const bus_;
  VcpuEventSink* const sink_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Slot>> slots_;  // fixed after construction
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t scale_generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration registration_grace_ ABSL_GUARDED_BY(mu_) = kRegistrationGrace;
  // The guest has issued PSCI CPU_ON for a non-boot vCPU (refused at boot, or after a hot-add):
  // only a kernel with arm64 vCPU hotplug (>= 6.11) treats online-capable CPUs as its own.
  // Linux 6.1 never does, yet answers a hot-add with _OST success.
  bool hotplug_evidence_ ABSL_GUARDED_BY(mu_) = false;
  // Bumped by every committed change: wakes AwaitScale to re-check and re-arm its timers.
  uint64_t guest_progress_ ABSL_GUARDED_BY(mu_) = 0;
  VcpuStats stats_ ABSL_GUARDED_BY(mu_);
  // Failed CPU_ONs (a guest can repeat them at will): the log is rate-limited.
  LogRateLimiter failed_cpu_on_;
  // Refused hotplug register writes (_EJ0 refused, _OST failures) and (at debug level) _OST
  // reports: the log is rate-limited, and queued until FlushLog.
  LogRateLimiter refused_hotplug_;
  LogRateLimiter ost_reports_;
  struct PendingLog {
    LogLevel level;
    std::string message;
  };
  std::vector<PendingLog> pending_log_ ABSL_GUARDED_BY(mu_);
  int scale_waiters_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace vmmd::core
