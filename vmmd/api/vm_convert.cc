#include "vmmd/api/vm_convert.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace vmmd::api {
namespace {

bool IsFinite(absl::Time time) {
  return time != absl::InfinitePast() && time != absl::InfiniteFuture();
}

}  // namespace

vmm::VmSpec VmSpecFromProto(const v1::VmSpec& spec) {
  vmm::VmSpec out;
  out.name = spec.name();
  out.kernel_path = spec.kernel_path();
  out.initrd_path = spec.initrd_path();
  out.cmdline = spec.cmdline();
  out.firmware_path = spec.firmware_path();
  out.memory_mib = spec.memory_mib();
  out.boot_vcpus = spec.boot_vcpus();
  out.max_vcpus = spec.max_vcpus();
  out.console_log_path = spec.console_log_path();
  return out;
}

v1::VmSpec VmSpecToProto(const vmm::VmSpec& spec) {
  v1::VmSpec out;
  out.set_name(spec.name);
  out.set_kernel_path(spec.kernel_path);
  out.set_initrd_path(spec.initrd_path);
  out.set_cmdline(spec.cmdline);
  out.set_firmware_path(spec.firmware_path);
  out.set_memory_mib(spec.memory_mib);
  out.set_boot_vcpus(spec.boot_vcpus);
  out.set_max_vcpus(spec.max_vcpus);
  out.set_console_log_path(spec.console_log_path);
  return out;
}

v1::Vm VmToProto(const vmm::VmInfo& info) {
  v1::Vm out;
  *out.mutable_spec() = VmSpecToProto(info.spec);
  out.set_state(VmStateToProto(info.state));
  out.set_state_reason(info.state_reason);
  // "Never" (an infinite time) stays unset.
  if (IsFinite(info.created_at)) TimeToProto(info.created_at, out.mutable_created_at());
  if (IsFinite(info.started_at)) TimeToProto(info.started_at, out.mutable_started_at());
  if (IsFinite(info.stopped_at)) TimeToProto(info.stopped_at, out.mutable_stopped_at());
  out.set_online_vcpus(info.online_vcpus);
  out.set_restarts(info.restarts);
  out.set_unmapped_mmio(info.unmapped_mmio);
  out.set_target_vcpus(info.target_vcpus);
  return out;
}

v1::VcpuStatus VcpuToProto(const core::VcpuInfo& info) {
  v1::VcpuStatus out;
  out.set_id(info.id);
  out.set_mpidr(info.mpidr);
  out.set_state(VcpuStateToProto(info.state));
  out.set_boot(info.boot);
  out.set_acpi_enabled(info.acpi_enabled);
  out.set_power(PsciPowerToProto(info.power));
  out.set_thread_id(info.thread_id);
  out.set_exits(info.exits);
  out.set_mmio_exits(info.mmio_exits);
  out.set_hypercall_exits(info.hypercall_exits);
  out.set_busy_ns(info.busy_ns);
  out.set_delay_ns(info.delay_ns);
  if (IsFinite(info.last_transition)) {
    TimeToProto(info.last_transition, out.mutable_last_transition());
  }
  return out;
}

v1::VmState VmStateToProto(vmm::VmState state) {
  switch (state) {
    case vmm::VmState::kCreated:
      return v1::VM_STATE_CREATED;
    case vmm::VmState::kStarting:
      return v1::VM_STATE_STARTING;
    case vmm::VmState::kRunning:
      return v1::VM_STATE_RUNNING;
    case vmm::VmState::kStopping:
      return v1::VM_STATE_STOPPING;
    case vmm::VmState::kStopped:
      return v1::VM_STATE_STOPPED;
    case vmm::VmState::kFailed:
      return v1::VM_STATE_FAILED;
  }
  return v1::VM_STATE_UNSPECIFIED;  // not an enumerator
}

v1::VcpuState VcpuStateToProto(core::VcpuState state) {
  switch (state) {
    case core::VcpuState::kParked:
      return v1::VCPU_STATE_PARKED;
    case core::VcpuState::kEnabling:
      return v1::VCPU_STATE_ENABLING;
    case core::VcpuState::kEnabled:
      return v1::VCPU_STATE_ENABLED;
    case core::VcpuState::kOnline:
      return v1::VCPU_STATE_ONLINE;
    case core::VcpuState::kOffline:
      return v1::VCPU_STATE_OFFLINE;
    case core::VcpuState::kRemoving:
      return v1::VCPU_STATE_REMOVING;
  }
  return v1::VCPU_STATE_UNSPECIFIED;
}

v1::PsciPower PsciPowerToProto(core::PsciPower power) {
  switch (power) {
    case core::PsciPower::kOff:
      return v1::PSCI_POWER_OFF;
    case core::PsciPower::kOn:
      return v1::PSCI_POWER_ON;
  }
  return v1::PSCI_POWER_UNSPECIFIED;
}

void TimeToProto(absl::Time time, google::protobuf::Timestamp* out) {
  if (!IsFinite(time)) {
    out->Clear();
    return;
  }
  const int64_t seconds = absl::ToUnixSeconds(time);  // floor
  const absl::Duration rest = time - absl::FromUnixSeconds(seconds);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(rest)));
}

v1::Event EventToProto(const vmm::WatchEvent& event) {
  v1::Event out;
  out.set_sequence(event.sequence);
  TimeToProto(event.time, out.mutable_time());
  out.set_vm(event.vm);
  out.set_snapshot(event.snapshot);
  out.set_dropped_before(event.dropped_before);
  switch (event.kind) {
    case vmm::WatchEvent::Kind::kEmpty:
      break;
    case vmm::WatchEvent::Kind::kVmState:
      out.mutable_vm_state()->set_state(VmStateToProto(event.vm_state));
      out.mutable_vm_state()->set_reason(event.detail);
      break;
    case vmm::WatchEvent::Kind::kVcpuState:
      out.mutable_vcpu_state()->set_vcpu(event.vcpu);
      out.mutable_vcpu_state()->set_from(VcpuStateToProto(event.from));
      out.mutable_vcpu_state()->set_to(VcpuStateToProto(event.to));
      out.mutable_vcpu_state()->set_cause(event.detail);
      break;
  }
  return out;
}

core::ScaleWait ScaleWaitFromProto(v1::ScaleWait wait) {
  switch (wait) {
    case v1::SCALE_WAIT_ENABLED:
      return core::ScaleWait::kEnabled;
    case v1::SCALE_WAIT_ONLINE:
      return core::ScaleWait::kOnline;
    default:
      return core::ScaleWait::kNone;
  }
}

}  // namespace vmmd::api
