// Conversions between the vmmd.v1 protos and core's plain domain types. Enum mappings are
// exhaustive (a new enumerator on either side fails the build until it is mapped here).
#pragma once

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/vcpu/vcpu_manager.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "vmmd/v1/vmm.pb.h"
#include "vmmd/vmm/event_hub.h"
#include "vmmd/vmm/vm_types.h"

namespace vmmd::api {

// Copies field by field; the content is validated by vmm::VmManager.
vmm::VmSpec VmSpecFromProto(const v1::VmSpec& spec);
v1::VmSpec VmSpecToProto(const vmm::VmSpec& spec);

v1::Vm VmToProto(const vmm::VmInfo& info);
// INVALID_ARGUMENT (naming the field under `field`) for an unknown mode or a malformed
// duration; the values themselves are checked by vmm::ResolveAutoscalePolicy.
absl::StatusOr<vmm::AutoscalePolicy> AutoscalePolicyFromProto(const v1::AutoscalePolicy& policy,
                                                              const char* field);
v1::AutoscalePolicy AutoscalePolicyToProto(const vmm::AutoscalePolicy& policy);
// INVALID_ARGUMENT for a malformed last_scale_time; the rest is checked by
// vmm::ValidateAutoscaleStatus. report_time is ignored (vmmd sets it).
absl::StatusOr<vmm::AutoscaleStatus> AutoscaleStatusFromProto(const v1::AutoscaleStatus& status);
v1::AutoscaleStatus AutoscaleStatusToProto(const vmm::AutoscaleStatus& status);
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
