// Conversions between the vmmd.v1 protos and core's plain domain types. Enum mappings are
// exhaustive (a new enumerator on either side fails the build until it is mapped here).
#pragma once

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/vcpu/vcpu_manager.h"
#include "core/vm/event_hub.h"
#include "core/vm/vm_types.h"
#include "google/protobuf/timestamp.pb.h"
#include "vmmd/v1/vmm.pb.h"

namespace vmmd {

// Copies field by field; the content is validated by core::VmManager.
core::VmSpec VmSpecFromProto(const v1::VmSpec& spec);
v1::VmSpec VmSpecToProto(const core::VmSpec& spec);

v1::Vm VmToProto(const core::VmInfo& info);
v1::VcpuStatus VcpuToProto(const core::VcpuInfo& info);
v1::Event EventToProto(const core::VmEvent& event);
core::ScaleWait ScaleWaitFromProto(v1::ScaleWait wait);  // UNSPECIFIED (and unknown) = NONE

v1::VmState VmStateToProto(core::VmState state);
v1::VcpuState VcpuStateToProto(core::VcpuState state);
v1::PsciPower PsciPowerToProto(core::PsciPower power);
// INVALID_ARGUMENT for *_UNSPECIFIED and for numbers that are not enumerators.
absl::StatusOr<core::VmState> VmStateFromProto(v1::VmState state);
absl::StatusOr<core::VcpuState> VcpuStateFromProto(v1::VcpuState state);
absl::StatusOr<core::PsciPower> PsciPowerFromProto(v1::PsciPower power);

// VmToProto/VcpuToProto leave a Timestamp field unset for "never" (an infinite time);
// TimeToProto clears `out` for one. TimeFromProto converts a set Timestamp (callers check
// has_*() for "never").
void TimeToProto(absl::Time time, google::protobuf::Timestamp* out);
absl::Time TimeFromProto(const google::protobuf::Timestamp& timestamp);

}  // namespace vmmd
