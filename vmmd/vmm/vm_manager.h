// All VMs of one vmmd process. Thread-safe; no lock is held across VMs, so a slow or failing
// VM never blocks another. Every method returns a precise canonical code:
//   INVALID_ARGUMENT  a spec field is wrong (the message names the field and the fix)
//   NOT_FOUND         no VM of that name, or a spec file that does not exist
//   PERMISSION_DENIED a spec file outside the image directories, behind a symlink, unreadable
//   ALREADY_EXISTS    CreateVm with a name in use
//   FAILED_PRECONDITION  the VM's state does not allow the call (e.g. StartVm while RUNNING)
//   RESOURCE_EXHAUSTED   the host cannot give what the spec asks (memory, vCPUs)
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/common/confined_dir.h"
#include "core/hypervisor/hypervisor.h"
#include "core/vcpu/vcpu_manager.h"
#include "vmmd/vmm/event_hub.h"
#include "vmmd/vmm/event_stream.h"
#include "vmmd/vmm/vm.h"
#include "vmmd/vmm/vm_types.h"

namespace vmmd::vmm {

// Everything known about one VM at one moment, for the metrics: taken VM by VM, each without
// holding any lock across VMs.
struct VmReport {
  VmInfo info;
  std::vector<core::VcpuInfo> vcpus;
  VmStats stats;
};

// Every VM's report, and what the whole manager counted.
struct ManagerReport {
  std::vector<VmReport> vms;  // sorted by name
  // The vCPU counters (hotplug phase durations, CPU_ON verdicts) of every VM this manager has
  // held, deleted ones included: they never go backwards while the manager lives.
  core::VcpuStats all_vcpus;
};

struct VmManagerOptions {
  // Per-VM persistent state lives in <state_dir>/<vm name>/ (mode 0700), created on first
  // start and removed with its contents by DeleteVm: a firmware-booted VM's UEFI variables
  // (efivars.fd) and every VM's console log (console.log, rotated to console.log.1; hw/pl011
  // console_log.h). Empty: nothing persists across VM restarts and console output is dropped.
  std::string state_dir;
  // The only directories a spec's kernel_path, initrd_path and firmware_path may name files in
  // (confined_dir.h gives the rules and codes). Null: none, so every such path is refused.
  std::shared_ptr<const ConfinedDirs> image_dirs;
  // What a guest reset leads to (vm_restart.h: back-off, cap); tests shorten it.
  RestartPolicy restart;
  // Where every VM's record is kept (normally on state_dir): CreateVm fails if it cannot be
  // written, every change is saved, DeleteVm removes it, Restore reads them all. Null: VMs
  // live only as long as the process.
  std::shared_ptr<VmRecordStore> records;
};

// What Restore found.
struct RestoreSummary {
  int restored = 0;  // VMs listed again (every record, usable or not)
  int started = 0;   // of those, booted because they should run
  int failed = 0;    // unusable records, and VMs that should run but did not start
};

class VmManager {
 public:
  explicit VmManager(core::Hypervisor* hypervisor, VmManagerOptions options = {});
  ~VmManager();  // stops every VM
  VmManager(const VmManager&) = delete;
  VmManager& operator=(const VmManager&) = delete;

  // Validates and records the VM (state CREATED) with its autoscaling policy (default: OFF).
  // No KVM resources until StartVm.
  // The checks of CreateVm that need no file: INVALID_ARGUMENT for a field out of range,
  // RESOURCE_EXHAUSTED beyond the host (ValidateVmSpecFields).
  absl::Status ValidateSpecFields(const VmSpec& spec) const;
  absl::Status CreateVm(const VmSpec& spec, const AutoscalePolicy& autoscale = {});
  // Builds the VM in KVM (all max_vcpus vCPUs, vGIC, devices) and runs the boot vCPU.
  absl::Status StartVm(std::string_view name);
  // Stops every vCPU and frees the KVM VM; the VM stays listed (state STOPPED). With a grace,
  // the guest is asked first through the ACPI power button (Vm::Stop).
  absl::Status StopVm(std::string_view name, StopOptions options = {});
  // Stops the VM if needed and forgets it.
  absl::Status DeleteVm(std::string_view name);
  absl::StatusOr<VmInfo> GetVm(std::string_view name);
  std::vector<VmInfo> ListVms();  // sorted by name
  // Every VM's info, vCPUs and counters. O(VMs x vCPUs), no lock across VMs.
  ManagerReport Report();
  // The VM's autoscaling policy and an autoscaler's report (Vm::SetAutoscalePolicy,
  // Vm::ReportAutoscaleStatus).
  absl::Status SetAutoscalePolicy(std::string_view name, const AutoscalePolicy& policy);
  absl::Status ReportAutoscaleStatus(std::string_view name, AutoscaleStatus status);
  // Every possible vCPU, by id.
  absl::StatusOr<std::vector<core::VcpuInfo>> GetCpuState(std::string_view name);
  // Declarative vCPU resize of a running VM (Vm::ScaleVcpus).
  absl::StatusOr<ScaleResult> ScaleVcpus(std::string_view name, uint32_t target,
                                         core::ScaleWait wait, absl::Time deadline);
  // Lifecycle events of VM `name` ("" for every VM): a snapshot, then every change
  // (event_stream.h). NOT_FOUND for a name no VM has.
  absl::StatusOr<std::unique_ptr<EventStream>> Watch(std::string_view name);
  // Lifecycle events of every VM.
  EventHub& events() { return events_; }
  // Lists again every VM that has a record (once, when vmmd starts, before it serves): each at
  // its desired vCPU count and with its policy; those that should run are booted, their
  // hot-added vCPUs plugged from the start. A record that cannot be read or no longer passes
  // CreateVm's checks gives a FAILED VM with the reason, which can only be deleted; a VM that
  // does not start is FAILED with the reason (its record still says it should run). Neither
  // affects another VM.
  RestoreSummary Restore();
  // Stops every VM (daemon shutdown), leaving their records as they are (a VM that ran runs
  // again after a restart, even if its guest powered off at the button). With a grace, first
  // presses every running VM's ACPI power button at once and waits, for all of them together, until
  // each has powered off or the grace has passed (so the whole stop takes at most about one grace,
  // however many VMs); then stops the rest at once.
  void StopAll(absl::Duration grace = absl::ZeroDuration());

 private:
  absl::StatusOr<std::shared_ptr<Vm>> Find(std::string_view name);
  VmContext ContextFor(const std::string& name);
  // A VM from its record (vm_restore.cc): usable, or FAILED with why not.
  std::shared_ptr<Vm> FromRecord(const std::string& name, const absl::StatusOr<VmRecord>& record);

  core::Hypervisor* const hypervisor_;
  const VmManagerOptions options_;
  EventHub events_;  // outlives every Vm (declared before vms_)
  // flash0 images, one per firmware file, shared by the VMs that boot it.
  const std::shared_ptr<hw::FlashImageCache> firmware_images_ =
      std::make_shared<hw::FlashImageCache>();
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Vm>> vms_ ABSL_GUARDED_BY(mu_);
  // Names CreateVm is recording (outside mu_): taken, not listed yet.
  absl::flat_hash_set<std::string> creating_ ABSL_GUARDED_BY(mu_);
  // VMs DeleteVm is shutting down: out of vms_, still counted in Report's totals.
  std::vector<std::shared_ptr<Vm>> deleting_ ABSL_GUARDED_BY(mu_);
  // The vCPU counters of the VMs deleted so far.
  core::VcpuStats deleted_vcpus_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmmd::vmm
