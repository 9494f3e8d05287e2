// VmManager::Restore: the VMs of a previous vmmd process, from their records.
#include <utility>

#include "absl/strings/str_format.h"
#include "core/common/log.h"
#include "vmmd/vmm/autoscale_policy.h"
#include "vmmd/vmm/vm_manager.h"
#include "vmmd/vmm/vm_spec_validation.h"

namespace vmmd::vmm {

std::shared_ptr<Vm> VmManager::FromRecord(const std::string& name,
                                          const absl::StatusOr<VmRecord>& record) {
  auto unusable = [&](absl::Status why) {
    VmSpec spec;
    spec.name = name;
    VmResume resume;
    resume.unusable = std::move(why);
    return std::make_shared<Vm>(std::move(spec), AutoscalePolicy{}, ContextFor(name),
                                std::move(resume));
  };
  if (!record.ok()) {
    return unusable(absl::Status(
        record.status().code(),
        absl::StrFormat("its record could not be read: %s", record.status().message())));
  }
  // The record was valid when it was written; this host or this vmmd may no longer accept it.
  const VmSpec& spec = record->spec;
  absl::Status valid =
      ValidateVmSpecFields(spec, hypervisor_->capabilities(), HostPhysicalMemoryBytes());
  VmSpec stored = spec;
  stored.max_vcpus = EffectiveMaxVcpus(spec);
  stored.start_vcpus = EffectiveStartVcpus(spec);
  stored.boot_mode = EffectiveBootMode(spec);
  absl::StatusOr<AutoscalePolicy> policy =
      valid.ok() ? ResolveAutoscalePolicy(record->autoscale, stored) : valid;
  if (!policy.ok()) {
    return unusable(absl::Status(
        policy.status().code(), absl::StrFormat("its record no longer passes CreateVm's checks: %s",
                                                policy.status().message())));
  }
  VmResume resume;
  resume.target_vcpus = record->desired_vcpus;
  if (resume.target_vcpus < stored.boot_vcpus || resume.target_vcpus > stored.max_vcpus) {
    LogWarning("%s: its record asks for %u vCPUs, outside %u..%u; using %u", name,
               resume.target_vcpus, stored.boot_vcpus, stored.max_vcpus, stored.boot_vcpus);
    resume.target_vcpus = stored.boot_vcpus;
  }
  resume.created_at = record->created_at;
  resume.should_run = record->running;
  return std::make_shared<Vm>(std::move(stored), *policy, ContextFor(name), std::move(resume));
}

RestoreSummary VmManager::Restore() {
  RestoreSummary summary;
  if (options_.records == nullptr) return summary;
  std::vector<std::shared_ptr<Vm>> to_start;
  for (const VmRecordStore::Loaded& loaded : options_.records->LoadAll()) {
    std::shared_ptr<Vm> vm = FromRecord(loaded.name, loaded.record);
    const VmInfo info = vm->Info();
    {
      absl::MutexLock lock(&mu_);
      if (vms_.contains(loaded.name)) continue;  // created meanwhile (Restore runs before serving)
      vms_.emplace(loaded.name, vm);
    }
    ++summary.restored;
    if (info.state == VmState::kFailed) {
      ++summary.failed;
      LogError("%s: restored as FAILED: %s", loaded.name, info.state_reason);
    } else if (vm->ShouldRun()) {
      to_start.push_back(std::move(vm));
    } else {
      LogInfo("%s: restored (%s, %u vCPUs wanted)", loaded.name, VmStateName(info.state),
              info.target_vcpus);
    }
  }
  // Booted one after the other: each start is short (the guest boots on its own threads).
  for (const std::shared_ptr<Vm>& vm : to_start) {
    if (absl::Status s = vm->Start(); !s.ok()) {
      ++summary.failed;
      LogError("%s: restored, but it did not start: %s", vm->name(), s.message());
      continue;
    }
    ++summary.started;
    LogInfo("%s: restored and started at %u vCPUs", vm->name(), vm->Info().target_vcpus);
  }
  return summary;
}

}  // namespace vmmd::vmm
