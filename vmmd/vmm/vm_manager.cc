#include "vmmd/vmm/vm_manager.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "core/common/log.h"
#include "vmmd/vmm/autoscale_policy.h"
#include "vmmd/vmm/vm.h"
#include "vmmd/vmm/vm_spec_validation.h"

namespace vmmd::vmm {

VmManager::VmManager(core::Hypervisor* hypervisor, VmManagerOptions options)
    : hypervisor_(hypervisor), options_(std::move(options)) {}

VmManager::~VmManager() { StopAll(); }

absl::StatusOr<std::shared_ptr<Vm>> VmManager::Find(std::string_view name) {
  absl::MutexLock lock(&mu_);
  auto it = vms_.find(std::string(name));
  if (it == vms_.end()) {
    return absl::NotFoundError(absl::StrFormat("no VM named \"%s\"", absl::CHexEscape(std::string(name.substr(0, 80)))));
  }
  return it->second;
}

absl::Status VmManager::ValidateSpecFields(const VmSpec& spec) const {
  return ValidateVmSpecFields(spec, hypervisor_->capabilities(), HostPhysicalMemoryBytes());
}

absl::Status VmManager::CreateVm(const VmSpec& spec, const AutoscalePolicy& autoscale) {
  if (absl::Status s = ValidateVmSpecFields(spec, hypervisor_->capabilities(),
                                            HostPhysicalMemoryBytes());
      !s.ok()) {
    return s;
  }
  static const ConfinedDirs kNoDirs;
  const ConfinedDirs& image_dirs = options_.image_dirs ? *options_.image_dirs : kNoDirs;
  if (absl::Status s = OpenVmSpecFiles(spec, image_dirs).status(); !s.ok()) return s;
  VmSpec stored = spec;
  stored.max_vcpus = EffectiveMaxVcpus(spec);
  stored.start_vcpus = EffectiveStartVcpus(spec);
  stored.boot_mode = EffectiveBootMode(spec);
  absl::StatusOr<AutoscalePolicy> policy = ResolveAutoscalePolicy(autoscale, stored);
  if (!policy.ok()) return policy.status();
  {
    absl::MutexLock lock(&mu_);
    if (vms_.contains(spec.name) || creating_.contains(spec.name)) {
      return absl::AlreadyExistsError(
          absl::StrFormat("a VM named \"%s\" already exists", spec.name));
    }
    creating_.insert(spec.name);
  }
  // Recorded before it is listed (the fsyncs happen outside mu_): a VM a client was told exists
  // survives a vmmd restart.
  auto vm = std::make_shared<Vm>(std::move(stored), *policy, ContextFor(spec.name));
  absl::Status recorded = vm->SaveRecord();
  absl::MutexLock lock(&mu_);
  creating_.erase(spec.name);
  if (!recorded.ok()) return recorded;
  vms_.emplace(spec.name, std::move(vm));
  LogInfo("%s: created (%u/%u vCPUs, %u MiB)", spec.name, spec.boot_vcpus,
          EffectiveMaxVcpus(spec), spec.memory_mib);
  return absl::OkStatus();
}

VmContext VmManager::ContextFor(const std::string& name) {
  VmContext context;
  context.hypervisor = hypervisor_;
  context.state_dir = options_.state_dir.empty() ? "" : options_.state_dir + "/" + name;
  context.events = &events_;
  context.image_dirs = options_.image_dirs;
  context.restart = options_.restart;
  context.records = options_.records.get();
  context.firmware_images = firmware_images_;
  return context;
}

absl::Status VmManager::SetAutoscalePolicy(std::string_view name, const AutoscalePolicy& policy) {
  absl::StatusOr<std::shared_ptr<Vm>> vm = Find(name);
  if (!vm.ok()) return vm.status();
  return (*vm)->SetAutoscalePolicy(policy);
}

absl::Status VmManager::ReportAutoscaleStatus(std::string_view name, AutoscaleStatus status) {
  absl::StatusOr<std::shared_ptr<Vm>> vm = Find(name);
  if (!vm.ok()) return vm.status();
  return (*vm)->ReportAutoscaleStatus(std::move(status));
}

absl::Status VmManager::StartVm(std::string_view name) {
  absl::StatusOr<std::shared_ptr<Vm>> vm = Find(name);
  if (!vm.ok()) return vm.status();
  return (*vm)->Start();
}

absl::Status VmManager::StopVm(std::string_view name, StopOptions options) {
  absl::StatusOr<std::shared_ptr<Vm>> vm = Find(name);
  if (!vm.ok()) return vm.status();
  return (*vm)->Stop(options);
}

absl::Status VmManager::DeleteVm(std::string_view name) {
  std::shared_ptr<Vm> vm;
  {
    absl::MutexLock lock(&mu_);
    auto it = vms_.find(std::string(name));
    if (it == vms_.end()) {
      return absl::NotFoundError(absl::StrFormat("no VM named \"%s\"", absl::CHexEscape(std::string(name.substr(0, 80)))));
    }
    vm = std::move(it->second);
    vms_.erase(it);
    deleting_.push_back(vm);
  }
  vm->Shutdown();  // outside mu_: other VMs stay reachable meanwhile
  {
    // Its counters move into the totals in one step, so Report never misses them.
    absl::MutexLock lock(&mu_);
    deleted_vcpus_ += vm->Stats().vcpus;
    deleting_.erase(std::find(deleting_.begin(), deleting_.end(), vm));
  }
  vm->Forget();
  vm->RemoveState();
  LogInfo("%s: deleted", vm->name());
  return absl::OkStatus();
}

absl::StatusOr<VmInfo> VmManager::GetVm(std::string_view name) {
  absl::StatusOr<std::shared_ptr<Vm>> vm = Find(name);
  if (!vm.ok()) return vm.status();
  return (*vm)->Info();
}

std::vector<VmInfo> VmManager::ListVms() {
  std::vector<std::shared_ptr<Vm>> vms;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, vm] : vms_) vms.push_back(vm);
  }
  std::vector<VmInfo> out;
  out.reserve(vms.size());
  for (auto& vm : vms) out.push_back(vm->Info());
  std::sort(out.begin(), out.end(),
            [](const VmInfo& a, const VmInfo& b) { return a.spec.name < b.spec.name; });
  return out;
}

ManagerReport VmManager::Report() {
  std::vector<std::shared_ptr<Vm>> vms;
  std::vector<std::shared_ptr<Vm>> deleting;
  ManagerReport out;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, vm] : vms_) vms.push_back(vm);
    deleting = deleting_;
    out.all_vcpus = deleted_vcpus_;
  }
  // A VM whose deletion ends meanwhile is in `deleting` and not in the copied totals: counted
  // once either way.
  for (auto& vm : deleting) out.all_vcpus += vm->Stats().vcpus;
  out.vms.reserve(vms.size());
  for (auto& vm : vms) {
    VmReport r;
    r.info = vm->Info();
    absl::StatusOr<std::vector<core::VcpuInfo>> vcpus = vm->CpuState();
    if (vcpus.ok()) r.vcpus = std::move(*vcpus);
    r.stats = vm->Stats();
    out.all_vcpus += r.stats.vcpus;
    out.vms.push_back(std::move(r));
  }
  std::sort(out.vms.begin(), out.vms.end(), [](const VmReport& a, const VmReport& b) {
    return a.info.spec.name < b.info.spec.name;
  });
  return out;
}

absl::StatusOr<std::vector<core::VcpuInfo>> VmManager::GetCpuState(std::string_view name) {
  absl::StatusOr<std::shared_ptr<Vm>> vm = Find(name);
  if (!vm.ok()) return vm.status();
  return (*vm)->CpuState();
}

absl::StatusOr<ScaleResult> VmManager::ScaleVcpus(std::string_view name, uint32_t target,
                                                  core::ScaleWait wait, absl::Time deadline) {
  absl::StatusOr<std::shared_ptr<Vm>> vm = Find(name);
  if (!vm.ok()) return vm.status();
  return (*vm)->ScaleVcpus(target, wait, deadline);
}

absl::StatusOr<std::unique_ptr<EventStream>> VmManager::Watch(std::string_view name) {
  // Subscribe first, then read what is true now: nothing between the two is lost.
  std::unique_ptr<EventHub::Subscription> live = events_.Subscribe(std::string(name));
  std::vector<VmInfo> now;
  if (name.empty()) {
    now = ListVms();
  } else {
    absl::StatusOr<VmInfo> info = GetVm(name);
    if (!info.ok()) return info.status();
    now.push_back(std::move(*info));
  }
  return std::make_unique<EventStream>(std::move(live), now);
}

void VmManager::StopAll(absl::Duration grace) {
  std::vector<std::shared_ptr<Vm>> vms;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, vm] : vms_) vms.push_back(vm);
  }
  // vmmd is going away: each record keeps saying whether its VM should run.
  for (auto& vm : vms) vm->FreezeRecord();
  if (grace > absl::ZeroDuration()) {
    // Every button first, then one wait for all: the VMs power off in parallel.
    std::vector<PowerOffRequest> pressed;
    pressed.reserve(vms.size());
    for (auto& vm : vms) pressed.push_back(vm->RequestPowerOff(grace).value_or(PowerOffRequest{}));
    const absl::Time deadline = absl::Now() + grace;
    for (size_t i = 0; i < vms.size(); ++i) {
      if (pressed[i].machine == nullptr) continue;
      if (!vms[i]->AwaitPowerOff(std::move(pressed[i]), deadline)) {
        LogWarning("%s: the guest did not power off within %s of the ACPI power button; forced",
                   vms[i]->name(), absl::FormatDuration(grace));
      }
    }
  }
  for (auto& vm : vms) vm->Shutdown();
  events_.Shutdown();
}

}  // namespace vmmd::vmm
