// Vm, persistence: the VM's record in its state directory (record/vm_record_store.h), saved on
// every change of what it holds, so that a vmmd restarted after a crash, an upgrade or SIGKILL
// brings the VM back (VmManager::Restore). Guest memory is not part of it: a VM lives in vmmd's
// process, so a restart boots it again from its spec, at its desired size.
#include "absl/strings/str_format.h"
#include "core/common/log.h"
#include "vmmd/vmm/vm.h"

namespace vmmd::vmm {

VmRecord Vm::RecordLocked() const {
  VmRecord record;
  record.spec = spec_;
  record.desired_vcpus = target_vcpus_;
  record.running = should_run_;
  record.autoscale = autoscale_;
  record.created_at = created_at_;
  return record;
}

absl::Status Vm::SaveRecord() {
  if (records_ == nullptr || !unusable_.ok()) return absl::OkStatus();
  absl::MutexLock order(&record_mu_);
  if (forgotten_ || frozen_) return absl::OkStatus();
  VmRecord record;
  {
    absl::ReaderMutexLock lock(&mu_);
    record = RecordLocked();
  }
  absl::Status saved = records_->Save(record);
  if (!saved.ok()) {
    return absl::Status(saved.code(), absl::StrFormat("cannot record VM %s in %s: %s", spec_.name,
                                                      records_->path(), saved.message()));
  }
  return absl::OkStatus();
}

void Vm::SaveRecordOrLog() {
  if (absl::Status s = SaveRecord(); !s.ok()) {
    LogError("%s: %s (a vmmd restart would bring back its previous record)", spec_.name,
             s.message());
  }
}

void Vm::SetShouldRun(bool run) {
  {
    absl::MutexLock lock(&mu_);
    if (should_run_ == run) return;
    should_run_ = run;
  }
  SaveRecordOrLog();
}

bool Vm::ShouldRun() const {
  absl::MutexLock lock(&mu_);
  return should_run_;
}

void Vm::FreezeRecord() {
  absl::MutexLock order(&record_mu_);
  frozen_ = true;
}

void Vm::Forget() {
  if (records_ == nullptr) return;
  absl::MutexLock order(&record_mu_);
  forgotten_ = true;
  if (absl::Status s = records_->Remove(spec_.name); !s.ok() && !absl::IsNotFound(s)) {
    LogError("%s: cannot remove its record: %s (a vmmd restart would bring it back)", spec_.name,
             s.message());
  }
}

}  // namespace vmmd::vmm
