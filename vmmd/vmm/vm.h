// One VM's controller. Lifecycle calls (Start/Stop/Shutdown) are serialised by op_mu_; state
// readers take only mu_, so a slow start never blocks GetVm/ListVms. Guest-initiated events
// (power off, reset, a failed vCPU) arrive on vCPU threads and are handled on the VM's own
// controller thread, which may stop the machine (joining vCPU threads) without deadlock.
// The controller thread exists only while the VM runs (or waits to restart after a guest
// reset, vm_restart.h): Start creates it, and it ends when the VM stops — Stop and Shutdown
// join it, a guest-initiated stop ends it from inside and the next Start or Shutdown joins it.
// A created or stopped VM costs no thread.
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
#include "absl/time/time.h"
#include "core/common/confined_dir.h"
#include "core/hypervisor/hypervisor.h"
#include "core/vcpu/vcpu_manager.h"
#include "hw/flash/flash_image_cache.h"
#include "vmmd/vmm/event_hub.h"
#include "vmmd/vmm/record/vm_record_store.h"
#include "vmmd/vmm/vm_restart.h"
#include "vmmd/vmm/vm_state.h"
#include "vmmd/vmm/vm_stats.h"
#include "vmmd/vmm/vm_types.h"

namespace vmmd::vmm {

class Machine;

// How Stop stops a running VM.
struct StopOptions {
  // Zero: at once (every vCPU is stopped). Otherwise, for a VM with an ACPI power button (a
  // firmware boot), the button is pressed and the guest has this long to power off before it
  // is stopped anyway; a direct-boot VM (device tree, no ACPI) is stopped at once.
  absl::Duration grace = absl::ZeroDuration();
};
// The API's default grace and its bound.
inline constexpr absl::Duration kDefaultStopGrace = absl::Seconds(30);
inline constexpr absl::Duration kMaxStopGrace = absl::Minutes(10);

// A pressed power button (Vm::RequestPowerOff): the machine that was asked to power off, kept
// alive until the wait for it ends. Empty: nothing was pressed.
struct PowerOffRequest {
  std::shared_ptr<Machine> machine;
};

// What a Vm gets from its manager.
struct VmContext {
  core::Hypervisor* hypervisor = nullptr;
  // Where this VM keeps persistent state (see VmManagerOptions); may be empty.
  std::string state_dir;
  EventHub* events = nullptr;  // may be null
  // Where every start opens the spec's files again (null: none, so a start fails).
  std::shared_ptr<const ConfinedDirs> image_dirs;
  RestartPolicy restart;  // what a guest reset leads to (vm_restart.h)
  // Where the VM's record is kept across vmmd restarts (vm_persist.cc); null: nowhere.
  VmRecordStore* records = nullptr;
  // Firmware images shared between the VMs that boot the same file; null: a copy per VM.
  std::shared_ptr<hw::FlashImageCache> firmware_images;
};

// A VM brought back from its record when vmmd starts (VmManager::Restore).
struct VmResume {
  uint32_t target_vcpus = 0;  // 0: boot_vcpus
  absl::Time created_at = absl::InfinitePast();
  bool should_run = false;
  // Not OK: the record could not be used; the VM is FAILED with this reason, cannot start and
  // can only be deleted.
  absl::Status unusable;
};

struct ScaleResult {
  uint32_t previous = 0;  // vCPUs available to the guest before the request
  uint32_t current = 0;   // ... after it (the target)
  std::vector<core::VcpuInfo> vcpus;
};

class Vm {
 public:
  // `autoscale`: the VM's policy, already resolved (ResolveAutoscalePolicy).
  Vm(VmSpec spec, AutoscalePolicy autoscale, VmContext context, VmResume resume = {});
  ~Vm();  // Shutdown()
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  const std::string& name() const { return spec_.name; }

  // FAILED_PRECONDITION unless CREATED, STOPPED or FAILED. On a build error the VM is FAILED
  // (with the reason) and the error is returned; RESOURCE_EXHAUSTED "cannot create a thread:
  // ..." when the host has no thread for the controller or the boot vCPU.
  absl::Status Start();
  // FAILED_PRECONDITION unless RUNNING or waiting to restart after a guest reset (which is
  // then cancelled). With a grace (StopOptions), presses the ACPI power button and waits —
  // holding no VM lock, so GetVm, ListVms, a forced Stop and Shutdown go on meanwhile — until
  // the guest powers off (OK; the reason stays "guest powered off") or the grace has passed,
  // then stops the VM anyway (the reason says it was forced).
  absl::Status Stop(StopOptions options = {});
  // The two halves of a graceful stop, for stopping many VMs in parallel (VmManager::StopAll):
  // presses the power button of a RUNNING VM that has one (else returns an empty request;
  // NOT_FOUND after Shutdown), then waits until the pressed machine is gone (the guest powered
  // off, or the VM was stopped otherwise: true) or `deadline` (false). Neither stops the VM.
  absl::StatusOr<PowerOffRequest> RequestPowerOff(absl::Duration grace);
  bool AwaitPowerOff(PowerOffRequest request, absl::Time deadline);
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

  // Deletes the VM's persistent state (after Shutdown and Forget).
  void RemoveState();

  // Persistence (vm_persist.cc). The record holds the spec, the desired vCPU count, the policy
  // and whether the VM should run: started, and not stopped since by a client or by its guest
  // (a daemon shutdown does not count). Every change of those is saved by the Vm itself, except
  // the first record, which CreateVm saves with SaveRecord before the VM is listed.
  absl::Status SaveRecord();
  // Removes the record and saves no more (DeleteVm).
  void Forget();
  // Saves no more, keeping the record as it is (vmmd shutting down: the guests powering off and
  // the stops that follow are not what anybody asked of the VM, so it runs again next time).
  void FreezeRecord();
  // Whether the VM should be running (for VmManager::Restore).
  bool ShouldRun() const;

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
  // The controller's queue: one per controller thread, shared with the Sinks of the machines it
  // serves, so a thread that is ending never takes the events of its successor.
  struct Channel {
    absl::Mutex mu;
    std::deque<GuestEvent> events ABSL_GUARDED_BY(mu);
    bool quit ABSL_GUARDED_BY(mu) = false;
    // When a restart after a guest reset is due (InfiniteFuture: none pending).
    absl::Time restart_at ABSL_GUARDED_BY(mu) = absl::InfiniteFuture();
    void Post(GuestEvent event) {
      absl::MutexLock lock(&mu);
      events.push_back(std::move(event));
    }
  };
  class Sink : public core::VcpuEventSink {
   public:
    Sink(Vm* vm, uint64_t generation, std::shared_ptr<Channel> channel)
        : vm_(vm), generation_(generation), channel_(std::move(channel)) {}
    void OnGuestSystemEvent(uint32_t vcpu, const core::SystemEventExit& event) override;
    void OnVcpuFailed(uint32_t vcpu, const absl::Status& status) override;
    void OnVcpuTransition(const core::VcpuTransition& transition) override;

   private:
    Vm* const vm_;
    const uint64_t generation_;
    const std::shared_ptr<Channel> channel_;
  };

  void ControllerLoop(const std::shared_ptr<Channel>& channel);
  // Both return whether the controller thread goes on (false once the VM has stopped).
  bool HandleGuestEvent(const std::shared_ptr<Channel>& channel, const GuestEvent& event);
  bool RestartAfterBackoff(const std::shared_ptr<Channel>& channel);
  // A reset: rebuilds the machine now, after a back-off, or stops the VM FAILED (vm_restart.h).
  bool HandleResetLocked(const std::shared_ptr<Channel>& channel)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  // Starts the controller thread unless one runs (joining one that has ended).
  absl::Status EnsureControllerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  // Tells the controller to end (and cancels a pending restart); its thread stays in
  // controller_ to be joined — without op_mu_ unless it is known to have left HandleGuestEvent.
  void EndControllerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  // Start: builds and starts a machine (FAILED_PRECONDITION unless CREATED, STOPPED or FAILED).
  absl::Status BootLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  // Stop's second half: stops the VM with `reason` (or cancels a pending restart). After a
  // pressed power button (`pressed`), a VM that is no longer RUNNING is OK: it powered off.
  absl::Status FinishStop(bool pressed, std::string reason);
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
  // Records `reason` for the current state and publishes it.
  void NoteLocked(std::string reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets whether the VM should run and saves the record if that changed.
  // Called with op_mu_ held, so the flag follows the lifecycle calls' order.
  void SetShouldRun(bool run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_)
      ABSL_LOCKS_EXCLUDED(mu_, record_mu_);
  // SaveRecord, logging a failure (for changes whose caller cannot be told).
  void SaveRecordOrLog() ABSL_LOCKS_EXCLUDED(mu_, record_mu_);
  VmRecord RecordLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const VmSpec spec_;
  core::Hypervisor* const hypervisor_;
  const std::string state_dir_;
  EventHub* const hub_;  // may be null
  const std::shared_ptr<const ConfinedDirs> image_dirs_;
  VmRecordStore* const records_;  // may be null
  const std::shared_ptr<hw::FlashImageCache> firmware_images_;  // may be null
  const absl::Status unusable_;   // a record that could not be used (VmResume)

  absl::Mutex op_mu_ ABSL_ACQUIRED_BEFORE(record_mu_, mu_);
  // Serialises the saves of this VM's record: each save writes what is true when it runs, so
  // the last one to finish is the newest.
  absl::Mutex record_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  bool forgotten_ ABSL_GUARDED_BY(record_mu_) = false;
  bool frozen_ ABSL_GUARDED_BY(record_mu_) = false;
  uint64_t generation_ ABSL_GUARDED_BY(op_mu_) = 0;
  bool shut_down_ ABSL_GUARDED_BY(op_mu_) = false;

  mutable absl::Mutex mu_;
  VmState state_ ABSL_GUARDED_BY(mu_) = VmState::kCreated;
  std::string reason_ ABSL_GUARDED_BY(mu_);
  absl::Time created_at_;
  absl::Time started_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time stopped_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint32_t restarts_ ABSL_GUARDED_BY(mu_) = 0;
  // The target of the last accepted ScaleVCPUs (boot_vcpus until the first): kept across guest
  // resets and restarts, whose new machine starts with that many vCPUs plugged.
  uint32_t target_vcpus_ ABSL_GUARDED_BY(mu_) = 0;
  AutoscalePolicy autoscale_ ABSL_GUARDED_BY(mu_);
  bool should_run_ ABSL_GUARDED_BY(mu_) = false;
  AutoscaleStatus autoscale_status_ ABSL_GUARDED_BY(mu_);
  // What the machines that are gone counted: their vCPUs' CPU time (by vCPU id) and the rest.
  std::vector<ThreadCpuTime> carried_cpu_ ABSL_GUARDED_BY(mu_);
  VmStats carried_ ABSL_GUARDED_BY(mu_);
  // Shared: a ScaleVCPUs waiter keeps the machine alive while it waits outside the locks.
  std::shared_ptr<Machine> machine_ ABSL_GUARDED_BY(mu_);

  const RestartPolicy restart_policy_;
  // Guest resets within the policy's window; a restart waiting for its back-off.
  std::deque<absl::Time> resets_ ABSL_GUARDED_BY(op_mu_);
  bool restart_pending_ ABSL_GUARDED_BY(op_mu_) = false;
  // The controller: a thread and its queue while the VM runs (channel_ null otherwise; the
  // thread may then still need joining).
  std::shared_ptr<Channel> channel_ ABSL_GUARDED_BY(op_mu_);
  std::thread controller_ ABSL_GUARDED_BY(op_mu_);
};

}  // namespace vmmd::vmm
