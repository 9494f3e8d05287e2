// Conversions between the vmmd.v1 protos and core's plain domain types. Enum mappings are
// exhaustive (a new enumerator on either side fails the build until it is mapped here).
#pragma once

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/vcpu/vcpu_manager.h"
#include "google/protobuf/timestamp.pb.h"
#include "vmmd/v1/vmm.pb.h"
#include "vmmd/vmm/event_hub.h"
#include "vmmd/vmm/vm_types.h"

namespace vmmd::api {

// Copies field by field; the content is validated by vmm::VmManager.
vmm::VmSpec VmSpecFromProto(const v1::VmSpec& spec);
v1::VmSpec VmSpecToProto(const vmm::VmSpec& spec);

v1::Vm VmToProto(const vmm::VmInfo& info);
v1::VcpuStatus VcpuToProto(const core::VcpuInfo& info);
v1::Event EventToProto(const vmm::WatchEvent& event);
core::ScaleWait ScaleWaitFromProto(v1::ScaleWait wait);  // UNSPECIFIED (and unknown) = NONE

v1::VmState VmStateToProto(vmm::VmState state);
v1::VcpuState VcpuStateToProto(core::VcpuState state);
v1::PsciPower PsciPowerToProto(core::PsciPower power);

// VmToProto/VcpuToProto leave a Timestamp field unset for "never" (an infinite time);
// TimeToProto clears `out` for one.
void TimeToProto(absl::Time time, google::protobuf::Timestamp* out);

}  // namespace vmmd::api
