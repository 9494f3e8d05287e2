// vmmctl's human and JSON output. Pure functions over the vmmd.v1 messages, so the exact
// strings are unit-tested; scripts (and the end-to-end tests) parse them with awk.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "grpcpp/support/status.h"
#include "vmmd/v1/vmm.pb.h"

namespace vmmd::vmmctl {

// Enum values without their prefix: "RUNNING", "PARKED"; "UNSPECIFIED" for 0 and "UNKNOWN"
// for a number that is not an enumerator (a newer daemon).
std::string VmStateLabel(v1::VmState state);
std::string VcpuStateLabel(v1::VcpuState state);
// The --boot spelling: "dt", "uefi", "acpi-direct"; "-" for unspecified or unknown.
std::string BootModeLabel(v1::BootMode mode);
// "on", "off", "-" (unspecified or unknown).
std::string PsciPowerLabel(v1::PsciPower power);
// RFC 3339 in UTC to the second ("2025-01-02T03:04:05Z"), or "-" when `set` is false.
std::string TimestampLabel(bool set, const google::protobuf::Timestamp& timestamp);

// Rows of cells as aligned columns: each column as wide as its widest cell, two spaces
// between columns, no trailing spaces, one '\n' per row.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

// `list`: header "NAME  STATE  ONLINE/MAX  MEMORY_MIB", one row per VM.
std::string FormatVmList(const v1::ListVmsResponse& response);
// `get`: "key: value" lines (empty values as "-").
std::string FormatVmDetails(const v1::Vm& vm);
// `cpus`: header "VCPU  MPIDR  STATE  BOOT  ACPI  PSCI  TID  EXITS", one row per vCPU.
std::string FormatCpuTable(const v1::GetCPUStateResponse& response);
std::string FormatCpuRows(const google::protobuf::RepeatedPtrField<v1::VcpuStatus>& vcpus);
// "vm1: 2 -> 4 vCPUs" then the vCPU table.
std::string FormatScaleResult(const v1::ScaleVCPUsResponse& response);
// One line per event, e.g. "2026-11-21T21:00:00.123Z vm1 vCPU 2 PARKED -> ENABLING (api: scale up)"
// or "... vm1 RUNNING"; a snapshot line ends with "(now)".
std::string FormatEvent(const v1::Event& event);
// "off" (also for unspecified), "recommend", "auto"; "unknown" for a newer daemon's value.
std::string AutoscaleModeLabel(v1::AutoscaleMode mode);
// A policy on one line: "auto 1..4 vCPUs, target 0.60, tolerance 0.10, up: window 0s
// +4/15s, down: window 300s -1/15s" (the words of the vmmctl flags).
std::string AutoscalePolicyLabel(const v1::AutoscalePolicy& policy);
// `autoscale`: "<name>: autoscale <AutoscalePolicyLabel>\n".
std::string FormatAutoscalePolicyLine(const v1::Vm& vm);
// create/start/stop/delete: "<name>: <STATE>\n".
std::string FormatConfirmation(const std::string& name, const std::string& state);

// The gRPC code's name in upper snake case ("INVALID_ARGUMENT"); "CODE_<n>" if unknown.
std::string GrpcCodeName(grpc::StatusCode code);
// "vmmctl: <CODE_NAME>: <message>\n".
std::string FormatError(grpc::StatusCode code, const std::string& message);

// The message as JSON with proto field names, every field printed, indented, '\n'-terminated.
absl::StatusOr<std::string> FormatJson(const google::protobuf::Message& message);

}  // namespace vmmd::vmmctl
