// One VM's controller. Lifecycle calls (Start/Stop/Shutdown) are serialised by op_mu_; state
// readers take only mu_, so a slow start never blocks GetVm/ListVms. Guest-initiated events
// (power off, reset, a failed vCPU) arrive on vCPU threads and are handled on the VM's own
// controller thread, which may stop the machine (joining vCPU threads) without deadlock.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/hypervisor/hypervisor.h"
#include "core/vcpu/vcpu_manager.h"
#include "vmmd/vmm/event_hub.h"
#include "vmmd/vmm/vm_state.h"
#include "vmmd/vmm/vm_stats.h"
#include "vmmd/vmm/vm_types.h"

namespace vmmd::vmm {

class Machine;

struct ScaleResult {
  uint32_t previous = 0;  // vCPUs available to the guest before the request
  uint32_t current = 0;   // ... after it (the target)
  std::vector<core::VcpuInfo> vcpus;
};

class Vm {
 public:
  // `state_dir`: where this VM keeps persistent state (see VmManagerOptions); may be empty.
  // `autoscale`: the VM's policy, already resolved (ResolveAutoscalePolicy).
  Vm(VmSpec spec, core::Hypervisor* hypervisor, std::string state_dir = "",
     EventHub* events = nullptr, AutoscalePolicy autoscale = {});
  ~Vm();  // Shutdown()
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  const std::string& name() const { return spec_.name; }

  // FAILED_PRECONDITION unless CREATED, STOPPED or FAILED. On a build error the VM is FAILED
  // (with the reason) and the error is returned.
  absl::Status Start();
  // FAILED_PRECONDITION unless RUNNING.
  absl::Status Stop();
  // Stops everything, including the controller thread; afterwards every call fails NOT_FOUND.
  void Shutdown();

  // Declarative vCPU resize of a RUNNING VM, waiting as `wait` says until `deadline`
  // (VcpuManager::Scale / AwaitScale give the codes).
  absl::StatusOr<ScaleResult> ScaleVcpus(uint32_t target, core::ScaleWait wait,
                                         absl::Time deadline);

  // Replaces the autoscaling policy (resolved and checked here; autoscale_policy.h gives the
  // codes), forgets the last reported status and publishes the policy to watchers.
  absl::Status SetAutoscalePolicy(const AutoscalePolicy& policy);
  // Records what an autoscaler computed (ValidateAutoscaleStatus), stamped with the time now.
  absl::Status ReportAutoscaleStatus(AutoscaleStatus status);

  // Deletes the VM's persistent state (after Shutdown).
  void RemoveState();

  VmInfo Info() const;
  // Counted since CreateVm, across every machine (vm_stats.h).
  VmStats Stats() const;
  absl::StatusOr<std::vector<core::VcpuInfo>> CpuState() const;

 private:
  struct GuestEvent {
    uint64_t generation;
    uint32_t vcpu;
    bool failed;             // a vCPU error (status) rather than a system event
    core::SystemEventExit event;
    absl::Status status;
  };
  // Forwards a machine's vCPU events to the controller queue, tagged with its generation so
  // events from a machine that is already gone are ignored.
  class Sink : public core::VcpuEventSink {
   public:
    Sink(Vm* vm, uint64_t generation) : vm_(vm), generation_(generation) {}
    void OnGuestSystemEvent(uint32_t vcpu, const core::SystemEventExit& event) override;
    void OnVcpuFailed(uint32_t vcpu, const absl::Status& status) override;
    void OnVcpuTransition(const core::VcpuTransition& transition) override;

   private:
    Vm* const vm_;
    const uint64_t generation_;
  };

  void Post(GuestEvent event);
  void ControllerLoop();
  void HandleGuestEvent(const GuestEvent& event);
  // Start: builds and starts a machine (FAILED_PRECONDITION unless CREATED, STOPPED or FAILED).
  absl::Status BootLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  // Halt: stops and frees the machine, then Halted (or Crashed when `failed`), with `reason`.
  // FAILED_PRECONDITION unless RUNNING.
  absl::Status TearDownLocked(bool failed, std::string reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  // Adds what a stopped machine counted to carried_cpu_ / carried_ (its vCPU threads are gone,
  // so its numbers are final).
  void FoldLocked(const Machine& machine) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `vcpus` with the CPU time of the machines that are gone added.
  static std::vector<core::VcpuInfo> WithCarried(std::vector<core::VcpuInfo> vcpus,
                                                 const std::vector<ThreadCpuTime>& carried);
  // The only writer of state_: runs `event` through NextVmState, records the result with
  // `reason` and publishes it; the refusal names the VM.
  absl::Status TransitionLocked(VmEvent event, std::string reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const VmSpec spec_;
  core::Hypervisor* const hypervisor_;
  const std::string state_dir_;
  EventHub* const hub_;  // may be null

  absl::Mutex op_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(op_mu_) = 0;
  bool shut_down_ ABSL_GUARDED_BY(op_mu_) = false;

  mutable absl::Mutex mu_;
  VmState state_ ABSL_GUARDED_BY(mu_) = VmState::kCreated;
  std::string reason_ ABSL_GUARDED_BY(mu_);
  absl::Time created_at_;
  absl::Time started_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time stopped_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint32_t restarts_ ABSL_GUARDED_BY(mu_) = 0;
  // The target of the last accepted ScaleVCPUs (boot_vcpus after each start).
  uint32_t target_vcpus_ ABSL_GUARDED_BY(mu_) = 0;
  AutoscalePolicy autoscale_ ABSL_GUARDED_BY(mu_);
  AutoscaleStatus autoscale_status_ ABSL_GUARDED_BY(mu_);
  // What the machines that are gone counted: their vCPUs' CPU time (by vCPU id) and the rest.
  std::vector<ThreadCpuTime> carried_cpu_ ABSL_GUARDED_BY(mu_);
  VmStats carried_ ABSL_GUARDED_BY(mu_);
  // Shared: a ScaleVCPUs waiter keeps the machine alive while it waits outside the locks.
  std::shared_ptr<Machine> machine_ ABSL_GUARDED_BY(mu_);

  absl::Mutex events_mu_;
  std::deque<GuestEvent> events_ ABSL_GUARDED_BY(events_mu_);
  bool quit_ ABSL_GUARDED_BY(events_mu_) = false;
  std::thread controller_;
};

}  // namespace vmmd::vmm
