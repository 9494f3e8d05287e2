#include "vmmd/api/vm_convert.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "vmmd/vmm/nic_spec.h"

namespace vmmd::api {
namespace {

bool IsFinite(absl::Time time) {
  return time != absl::InfinitePast() && time != absl::InfiniteFuture();
}

// A well-formed, non-negative Duration (seconds and nanos of the same sign, nanos < 1 s).
absl::StatusOr<absl::Duration> DurationFromProto(const google::protobuf::Duration& d,
                                                 absl::string_view field) {
  if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() >= 1'000'000'000 ||
      d.seconds() > 315'576'000'000) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be a non-negative duration (seconds >= 0, 0 <= nanos < 1e9)"));
  }
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void DurationToProto(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

}  // namespace

absl::StatusOr<vmm::AutoscalePolicy> AutoscalePolicyFromProto(const v1::AutoscalePolicy& in,
                                                              const char* field) {
  vmm::AutoscalePolicy out;
  switch (in.mode()) {
    case v1::AUTOSCALE_MODE_UNSPECIFIED:
    case v1::AUTOSCALE_MODE_OFF:
      out.mode = vmm::AutoscaleMode::kOff;
      break;
    case v1::AUTOSCALE_MODE_RECOMMEND:
      out.mode = vmm::AutoscaleMode::kRecommend;
      break;
    case v1::AUTOSCALE_MODE_AUTO:
      out.mode = vmm::AutoscaleMode::kAuto;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".mode ", static_cast<int>(in.mode()),
                       " is not an AutoscaleMode (OFF, RECOMMEND, AUTO)"));
  }
  out.min_vcpus = in.min_vcpus();
  out.max_vcpus = in.max_vcpus();
  out.target_utilization = in.target_utilization();
  if (in.has_tolerance()) out.tolerance = in.tolerance();
  out.scale_up_max_step = in.scale_up_max_step();
  out.scale_down_max_step = in.scale_down_max_step();
  struct {
    bool has;
    const google::protobuf::Duration& d;
    const char* name;
    std::optional<absl::Duration>* to;
  } durations[] = {
      {in.has_scale_up_stabilization(), in.scale_up_stabilization(), "scale_up_stabilization",
       &out.scale_up_stabilization},
      {in.has_scale_down_stabilization(), in.scale_down_stabilization(), "scale_down_stabilization",
       &out.scale_down_stabilization},
      {in.has_step_period(), in.step_period(), "step_period", &out.step_period},
  };
  for (auto& d : durations) {
    if (!d.has) continue;
    absl::StatusOr<absl::Duration> v = DurationFromProto(d.d, absl::StrCat(field, ".", d.name));
    if (!v.ok()) return v.status();
    *d.to = *v;
  }
  return out;
}

v1::AutoscalePolicy AutoscalePolicyToProto(const vmm::AutoscalePolicy& in) {
  v1::AutoscalePolicy out;
  switch (in.mode) {
    case vmm::AutoscaleMode::kOff:
      out.set_mode(v1::AUTOSCALE_MODE_OFF);
      break;
    case vmm::AutoscaleMode::kRecommend:
      out.set_mode(v1::AUTOSCALE_MODE_RECOMMEND);
      break;
    case vmm::AutoscaleMode::kAuto:
      out.set_mode(v1::AUTOSCALE_MODE_AUTO);
      break;
  }
  out.set_min_vcpus(in.min_vcpus);
  out.set_max_vcpus(in.max_vcpus);
  out.set_target_utilization(in.target_utilization);
  // Resolved policies have every value; an unresolved one leaves the unset ones unset.
  if (in.tolerance) out.set_tolerance(*in.tolerance);
  if (in.scale_up_stabilization) {
    DurationToProto(*in.scale_up_stabilization, out.mutable_scale_up_stabilization());
  }
  if (in.scale_down_stabilization) {
    DurationToProto(*in.scale_down_stabilization, out.mutable_scale_down_stabilization());
  }
  out.set_scale_up_max_step(in.scale_up_max_step);
  out.set_scale_down_max_step(in.scale_down_max_step);
  if (in.step_period) DurationToProto(*in.step_period, out.mutable_step_period());
  return out;
}

absl::StatusOr<vmm::AutoscaleStatus> AutoscaleStatusFromProto(const v1::AutoscaleStatus& in) {
  vmm::AutoscaleStatus out;
  out.recommended_vcpus = in.recommended_vcpus();
  out.utilization = in.utilization();
  out.steal = in.steal();
  out.reason = in.reason();
  out.reporter = in.reporter();
  out.last_scale_from = in.last_scale_from();
  out.last_scale_to = in.last_scale_to();
  out.last_scale_result = in.last_scale_result();
  if (in.has_last_scale_time()) {
    const auto& t = in.last_scale_time();
    // Timestamp's range: 0001-01-01 .. 9999-12-31.
    if (t.nanos() < 0 || t.nanos() >= 1'000'000'000 || t.seconds() < -62'135'596'800 ||
        t.seconds() > 253'402'300'799) {
      return absl::InvalidArgumentError("status.last_scale_time is not a valid Timestamp");
    }
    out.last_scale_time = absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
  }
  return out;
}

v1::AutoscaleStatus AutoscaleStatusToProto(const vmm::AutoscaleStatus& in) {
  v1::AutoscaleStatus out;
  out.set_recommended_vcpus(in.recommended_vcpus);
  out.set_utilization(in.utilization);
  out.set_steal(in.steal);
  out.set_reason(in.reason);
  if (IsFinite(in.report_time)) TimeToProto(in.report_time, out.mutable_report_time());
  if (IsFinite(in.last_scale_time)) TimeToProto(in.last_scale_time, out.mutable_last_scale_time());
  out.set_last_scale_from(in.last_scale_from);
  out.set_last_scale_to(in.last_scale_to);
  out.set_last_scale_result(in.last_scale_result);
  out.set_reporter(in.reporter);
  return out;
}

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
  out.start_vcpus = spec.start_vcpus();
  for (const v1::Disk& d : spec.disks()) {
    out.disks.push_back(
        vmm::DiskSpec{.path = d.path(), .read_only = d.read_only(), .serial = d.serial()});
  }
  for (const v1::Nic& n : spec.nics()) out.nics.push_back(vmm::NicSpec{n.tap(), n.mac()});
  out.entropy = spec.entropy();
  // Any int: ValidateVmSpecFields refuses one that is not a mode.
  out.boot_mode = static_cast<vmm::BootMode>(spec.boot_mode());
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
  out.set_start_vcpus(spec.start_vcpus);
  for (const vmm::DiskSpec& d : spec.disks) {
    v1::Disk* disk = out.add_disks();
    disk->set_path(d.path);
    disk->set_read_only(d.read_only);
    disk->set_serial(d.serial);
  }
  for (const vmm::NicSpec& n : spec.nics) {
    v1::Nic* nic = out.add_nics();
    nic->set_tap(n.tap);
    nic->set_mac(n.mac);
  }
  out.set_entropy(spec.entropy);
  out.set_boot_mode(static_cast<v1::BootMode>(spec.boot_mode));
  return out;
}

v1::Vm VmToProto(const vmm::VmInfo& info) {
  v1::Vm out;
  *out.mutable_spec() = VmSpecToProto(info.spec);
  out.set_state(VmStateToProto(info.state));
  out.set_state_reason(info.state_reason);
  out.set_console_log_path(info.console_log_path);
  // "Never" (an infinite time) stays unset.
  if (IsFinite(info.created_at)) TimeToProto(info.created_at, out.mutable_created_at());
  if (IsFinite(info.started_at)) TimeToProto(info.started_at, out.mutable_started_at());
  if (IsFinite(info.stopped_at)) TimeToProto(info.stopped_at, out.mutable_stopped_at());
  out.set_online_vcpus(info.online_vcpus);
  out.set_restarts(info.restarts);
  out.set_unmapped_mmio(info.unmapped_mmio);
  out.set_target_vcpus(info.target_vcpus);
  *out.mutable_autoscale() = AutoscalePolicyToProto(info.autoscale);
  if (info.autoscale_status.present) {
    *out.mutable_autoscale_status() = AutoscaleStatusToProto(info.autoscale_status);
  }
  for (size_t i = 0; i < info.disks.size(); ++i) {
    const vmm::DiskStats& d = info.disks[i];
    v1::DiskStatus* disk = out.add_disks();
    disk->set_index(static_cast<uint32_t>(i));
    disk->set_serial(vmm::DiskSerial(info.spec, i));
    disk->set_read_requests(d.reads);
    disk->set_write_requests(d.writes);
    disk->set_read_bytes(d.read_bytes);
    disk->set_write_bytes(d.write_bytes);
    disk->set_flush_requests(d.flushes);
    disk->set_discard_requests(d.discards);
    disk->set_failed_requests(d.errors);
    disk->set_queue_errors(d.queue_errors);
  }
  for (size_t i = 0; i < info.nics.size() && i < info.spec.nics.size(); ++i) {
    const vmm::NicStats& n = info.nics[i];
    v1::NicStatus* nic = out.add_nics();
    nic->set_index(static_cast<uint32_t>(i));
    nic->set_tap(info.spec.nics[i].tap);
    nic->set_mac(vmm::FormatMac(vmm::NicMac(info.spec, i)));
    nic->set_rx_frames(n.rx_frames);
    nic->set_rx_bytes(n.rx_bytes);
    nic->set_tx_frames(n.tx_frames);
    nic->set_tx_bytes(n.tx_bytes);
    nic->set_rx_dropped(n.rx_dropped);
    nic->set_tx_dropped(n.tx_dropped);
    nic->set_queue_errors(n.queue_errors);
  }
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
    case vmm::WatchEvent::Kind::kAutoscalePolicy:
      *out.mutable_autoscale_policy() = AutoscalePolicyToProto(event.autoscale);
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
