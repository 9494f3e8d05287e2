#include "vmmd/vmmctl/format.h"

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"

namespace vmmd::vmmctl {
namespace {

std::string StripPrefix(const std::string& name, absl::string_view prefix) {
  if (name.empty()) return "UNKNOWN";
  if (absl::StartsWith(name, prefix)) return name.substr(prefix.size());
  return name;
}

std::string OrDash(const std::string& value) { return value.empty() ? "-" : value; }

// "300s", "0.5s".
std::string DurationLabel(const google::protobuf::Duration& d) {
  return absl::StrFormat("%gs", static_cast<double>(d.seconds()) + d.nanos() / 1e9);
}

std::string YesNo(bool value) { return value ? "yes" : "no"; }

}  // namespace

std::string VmStateLabel(v1::VmState state) {
  return StripPrefix(v1::VmState_Name(state), "VM_STATE_");
}

std::string VcpuStateLabel(v1::VcpuState state) {
  return StripPrefix(v1::VcpuState_Name(state), "VCPU_STATE_");
}

std::string BootModeLabel(v1::BootMode mode) {
  switch (mode) {
    case v1::BOOT_MODE_DEVICE_TREE:
      return "dt";
    case v1::BOOT_MODE_UEFI:
      return "uefi";
    case v1::BOOT_MODE_ACPI_DIRECT:
      return "acpi-direct";
    default:
      return "-";
  }
}

std::string PsciPowerLabel(v1::PsciPower power) {
  switch (power) {
    case v1::PSCI_POWER_ON:
      return "on";
    case v1::PSCI_POWER_OFF:
      return "off";
    case v1::PSCI_POWER_UNSPECIFIED:
    default:
      return "-";
  }
}

std::string TimestampLabel(bool set, const google::protobuf::Timestamp& timestamp) {
  if (!set) return "-";
  const absl::Time time =
      absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0) line.append(2, ' ');
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size(), ' ');
    }
    out += line;
    out += '\n';
  }
  return out;
}

std::string FormatVmList(const v1::ListVmsResponse& response) {
  std::vector<std::vector<std::string>> rows = {{"NAME", "STATE", "ONLINE/MAX", "MEMORY_MIB"}};
  for (const v1::Vm& vm : response.vms()) {
    rows.push_back({OrDash(vm.spec().name()), VmStateLabel(vm.state()),
                    absl::StrCat(vm.online_vcpus(), "/", vm.spec().max_vcpus()),
                    absl::StrCat(vm.spec().memory_mib())});
  }
  return FormatTable(rows);
}

std::string FormatVmDetails(const v1::Vm& vm) {
  const v1::VmSpec& spec = vm.spec();
  std::string out;
  auto line = [&out](absl::string_view key, const std::string& value) {
    absl::StrAppend(&out, key, ": ", OrDash(value), "\n");
  };
  line("name", spec.name());
  line("state", VmStateLabel(vm.state()));
  line("reason", vm.state_reason());
  line("vcpus", absl::StrCat(spec.boot_vcpus()));
  line("max_vcpus", absl::StrCat(spec.max_vcpus()));
  line("start_vcpus", absl::StrCat(spec.start_vcpus()));
  line("online_vcpus", absl::StrCat(vm.online_vcpus()));
  line("target_vcpus", absl::StrCat(vm.target_vcpus()));
  line("memory_mib", absl::StrCat(spec.memory_mib()));
  line("kernel", spec.kernel_path());
  line("initrd", spec.initrd_path());
  line("cmdline", spec.cmdline());
  line("firmware", spec.firmware_path());
  line("boot", BootModeLabel(spec.boot_mode()));
  for (int i = 0; i < spec.disks_size(); ++i) {
    const v1::Disk& d = spec.disks(i);
    std::string value =
        absl::StrCat(d.path(), d.read_only() ? " (read-only)" : "",
                     d.serial().empty() ? "" : absl::StrCat(" serial=", d.serial()));
    for (const v1::DiskStatus& st : vm.disks()) {
      if (st.index() != static_cast<uint32_t>(i)) continue;
      absl::StrAppend(&value, "; reads ", st.read_requests(), " (", st.read_bytes(), " B), writes ",
                      st.write_requests(), " (", st.write_bytes(), " B), flushes ",
                      st.flush_requests(), ", failed ", st.failed_requests(), ", queue errors ",
                      st.queue_errors());
    }
    line(absl::StrCat("disk", i), value);
  }
  for (int i = 0; i < spec.nics_size(); ++i) {
    std::string value = absl::StrCat("tap ", spec.nics(i).tap());
    for (const v1::NicStatus& st : vm.nics()) {
      if (st.index() != static_cast<uint32_t>(i)) continue;
      absl::StrAppend(&value, " mac ", st.mac(), "; rx ", st.rx_frames(), " frames (",
                      st.rx_bytes(), " B, ", st.rx_dropped(), " dropped), tx ", st.tx_frames(),
                      " frames (", st.tx_bytes(), " B, ", st.tx_dropped(),
                      " dropped); queue errors ", st.queue_errors());
    }
    if (vm.nics().empty() && !spec.nics(i).mac().empty()) {
      absl::StrAppend(&value, " mac ", spec.nics(i).mac());
    }
    line(absl::StrCat("nic", i), value);
  }
  if (spec.entropy()) line("entropy", "virtio-rng");
  line("console_log", vm.console_log_path());
  line("created", TimestampLabel(vm.has_created_at(), vm.created_at()));
  line("started", TimestampLabel(vm.has_started_at(), vm.started_at()));
  line("stopped", TimestampLabel(vm.has_stopped_at(), vm.stopped_at()));
  line("restarts", absl::StrCat(vm.restarts()));
  line("unmapped_mmio", absl::StrCat(vm.unmapped_mmio()));
  line("autoscale", AutoscalePolicyLabel(vm.autoscale()));
  if (vm.has_autoscale_status()) {
    const v1::AutoscaleStatus& st = vm.autoscale_status();
    line("recommended_vcpus",
         st.recommended_vcpus() == 0 ? "" : absl::StrCat(st.recommended_vcpus()));
    line("utilization", absl::StrFormat("%.2f", st.utilization()));
    line("steal", absl::StrFormat("%.2f", st.steal()));
    line("recommendation", st.reason());
    line("reported", absl::StrCat(TimestampLabel(st.has_report_time(), st.report_time()), " by ",
                                  OrDash(st.reporter())));
    line("last_scale",
         st.has_last_scale_time()
             ? absl::StrCat(TimestampLabel(true, st.last_scale_time()), " ", st.last_scale_from(),
                            " -> ", st.last_scale_to(), ": ", st.last_scale_result())
             : "");
  }
  return out;
}

std::string FormatCpuTable(const v1::GetCPUStateResponse& response) {
  return FormatCpuRows(response.vcpus());
}

std::string FormatScaleResult(const v1::ScaleVCPUsResponse& response) {
  return absl::StrCat(response.name(), ": ", response.previous_vcpus(), " -> ",
                      response.current_vcpus(), " vCPUs\n", FormatCpuRows(response.vcpus()));
}

std::string FormatEvent(const v1::Event& event) {
  std::string when = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ",
                                      absl::FromUnixSeconds(event.time().seconds()) +
                                          absl::Nanoseconds(event.time().nanos()),
                                      absl::UTCTimeZone());
  std::string line = absl::StrCat(when, " ", event.vm().empty() ? "-" : event.vm());
  if (event.has_vcpu_state()) {
    const v1::VcpuStateChange& c = event.vcpu_state();
    absl::StrAppend(&line, " vCPU ", c.vcpu(), " ", VcpuStateLabel(c.from()), " -> ",
                    VcpuStateLabel(c.to()));
    if (!c.cause().empty()) absl::StrAppend(&line, " (", c.cause(), ")");
  } else if (event.has_autoscale_policy()) {
    absl::StrAppend(&line, " autoscale ", AutoscalePolicyLabel(event.autoscale_policy()));
  } else if (event.has_vm_state()) {
    absl::StrAppend(&line, " ", VmStateLabel(event.vm_state().state()));
    if (!event.vm_state().reason().empty()) absl::StrAppend(&line, ": ", event.vm_state().reason());
  }
  if (event.snapshot()) absl::StrAppend(&line, " (now)");
  if (event.dropped_before() > 0) {
    absl::StrAppend(&line, " [", event.dropped_before(), " earlier events lost]");
  }
  return absl::StrCat(line, "\n");
}

// Nanoseconds as seconds with two decimals ("12.34").
std::string Seconds(uint64_t ns) { return absl::StrFormat("%.2f", static_cast<double>(ns) / 1e9); }

std::string FormatCpuRows(const google::protobuf::RepeatedPtrField<v1::VcpuStatus>& vcpus) {
  std::vector<std::vector<std::string>> rows = {
      {"VCPU", "MPIDR", "STATE", "BOOT", "ACPI", "PSCI", "TID", "EXITS", "BUSY_S", "DELAY_S"}};
  for (const v1::VcpuStatus& vcpu : vcpus) {
    rows.push_back({absl::StrCat(vcpu.id()), absl::StrFormat("0x%x", vcpu.mpidr()),
                    VcpuStateLabel(vcpu.state()), YesNo(vcpu.boot()), YesNo(vcpu.acpi_enabled()),
                    PsciPowerLabel(vcpu.power()), absl::StrCat(vcpu.thread_id()),
                    absl::StrCat(vcpu.exits()), Seconds(vcpu.busy_ns()), Seconds(vcpu.delay_ns())});
  }
  return FormatTable(rows);
}

std::string AutoscaleModeLabel(v1::AutoscaleMode mode) {
  switch (mode) {
    case v1::AUTOSCALE_MODE_AUTO:
      return "auto";
    case v1::AUTOSCALE_MODE_RECOMMEND:
      return "recommend";
    case v1::AUTOSCALE_MODE_OFF:
    case v1::AUTOSCALE_MODE_UNSPECIFIED:
      return "off";
    default:
      return "unknown";
  }
}

std::string AutoscalePolicyLabel(const v1::AutoscalePolicy& p) {
  return absl::StrFormat(
      "%s %u..%u vCPUs, target %.2f, tolerance %.2f, up: window %s +%u/%s, down: window %s "
      "-%u/%s",
      AutoscaleModeLabel(p.mode()), p.min_vcpus(), p.max_vcpus(), p.target_utilization(),
      p.tolerance(), DurationLabel(p.scale_up_stabilization()), p.scale_up_max_step(),
      DurationLabel(p.step_period()), DurationLabel(p.scale_down_stabilization()),
      p.scale_down_max_step(), DurationLabel(p.step_period()));
}

std::string FormatAutoscalePolicyLine(const v1::Vm& vm) {
  return absl::StrCat(vm.spec().name(), ": autoscale ", AutoscalePolicyLabel(vm.autoscale()), "\n");
}

std::string FormatConfirmation(const std::string& name, const std::string& state) {
  return absl::StrCat(name, ": ", state, "\n");
}

std::string GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::DO_NOT_USE:
      break;
  }
  return absl::StrCat("CODE_", static_cast<int>(code));
}

std::string FormatError(grpc::StatusCode code, const std::string& message) {
  return absl::StrCat("vmmctl: ", GrpcCodeName(code), ": ", message, "\n");
}

absl::StatusOr<std::string> FormatJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot print as JSON: ", status.ToString()));
  }
  if (json.empty() || json.back() != '\n') json += '\n';
  return json;
}

}  // namespace vmmd::vmmctl
