#include "vmmd/api/grpc_service.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/common/log.h"
#include "core/common/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "vmmd/api/status_to_grpc.h"
#include "vmmd/api/vm_convert.h"

namespace vmmd::api {
namespace {

// A client-supplied name as it may appear in a log line: escaped and bounded.
std::string Printable(const std::string& name) { return absl::CHexEscape(name.substr(0, 80)); }

}  // namespace

std::string LoggedStatus(const absl::Status& status) {
  const absl::string_view message = status.message();
  std::string out = absl::StrCat(absl::StatusCodeToString(status.code()), ": ",
                                 absl::CHexEscape(message.substr(0, kMaxLoggedMessage)));
  if (message.size() > kMaxLoggedMessage) {
    absl::StrAppend(&out, "...(", message.size(), " bytes)");
  }
  return out;
}

// Logs the outcome of a state-changing call, counts it and converts its status.
grpc::Status VmmService::Finish(absl::string_view method, const std::string& name,
                                const absl::Status& status, absl::Time start) {
  if (status.ok()) {
    LogInfo("api: %s(\"%s\"): OK", method, Printable(name));
  } else {
    LogInfo("api: %s(\"%s\"): %s", method, Printable(name), LoggedStatus(status));
  }
  stats_.Record(method, status, absl::Now() - start);
  return ToGrpcStatus(status);
}

grpc::Status VmmService::FinishRead(absl::string_view method, const std::string& name,
                                    const absl::Status& status, absl::Time start) {
  if (!status.ok()) {
    LogDebug("api: %s(\"%s\"): %s", method, Printable(name), LoggedStatus(status));
  }
  stats_.Record(method, status,
                start == absl::InfinitePast() ? absl::InfiniteDuration() : absl::Now() - start);
  return ToGrpcStatus(status);
}

VmmService::VmmService(vmm::VmManager* vms, const ServiceOptions& options)
    : vms_(vms), options_(options), long_calls_(&vms->events(), options.max_streams) {
  // Every method of vmmd.v1.Vmm has its series from the start.
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          v1::Vmm::service_full_name());
  for (int i = 0; service != nullptr && i < service->method_count(); ++i) {
    const google::protobuf::MethodDescriptor* m = service->method(i);
    stats_.Declare(m->name(), !m->server_streaming() && !m->client_streaming());
  }
}

absl::Status ValidateVmName(const std::string& name, const char* field) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  return absl::OkStatus();  // anything else: NOT_FOUND from the manager
}

absl::Status ValidateCreateVmRequest(const v1::CreateVmRequest& request) {
  if (!request.has_spec()) return absl::InvalidArgumentError("spec is required");
  // Every spec field (name, paths, sizes, counts) is validated by vmm::VmManager::CreateVm,
  // with the field named in the message.
  return absl::OkStatus();
}

absl::StatusOr<absl::Time> ScaleDeadline(const v1::ScaleVCPUsRequest& request, absl::Time now,
                                         absl::Time call_deadline) {
  absl::Duration timeout = absl::Seconds(60);
  if (request.has_timeout()) {
    const auto& t = request.timeout();
    if (t.seconds() < 0 || t.nanos() < 0 || t.nanos() >= 1'000'000'000 ||
        (t.seconds() == 0 && t.nanos() == 0) || t.seconds() > 3600 ||
        (t.seconds() == 3600 && t.nanos() > 0)) {
      return absl::InvalidArgumentError("timeout must be more than 0 and at most 1 hour");
    }
    timeout = absl::Seconds(t.seconds()) + absl::Nanoseconds(t.nanos());
  }
  return std::min(now + timeout, call_deadline);
}

absl::StatusOr<vmm::StopOptions> StopOptionsFromRequest(const v1::StopVmRequest& request) {
  if (request.force()) {
    if (request.has_timeout()) {
      return absl::InvalidArgumentError(
          "timeout is for a graceful stop; a forced stop (force = true) stops at once: drop one");
    }
    return vmm::StopOptions{.grace = absl::ZeroDuration()};
  }
  if (!request.has_timeout()) return vmm::StopOptions{.grace = vmm::kDefaultStopGrace};
  const auto& t = request.timeout();
  const int64_t max_seconds = absl::ToInt64Seconds(vmm::kMaxStopGrace);
  if (t.seconds() < 0 || t.nanos() < 0 || t.nanos() >= 1'000'000'000 ||
      (t.seconds() == 0 && t.nanos() == 0) || t.seconds() > max_seconds ||
      (t.seconds() == max_seconds && t.nanos() > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeout (", t.seconds(), "s ", t.nanos(),
                     "ns) must be more than 0 and at most 10 minutes; leave it unset for 30 s"));
  }
  return vmm::StopOptions{.grace = absl::Seconds(t.seconds()) + absl::Nanoseconds(t.nanos())};
}

absl::Status ValidateScaleWait(int wait) {
  if (!v1::ScaleWait_IsValid(wait)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "wait ", wait,
        " is not a ScaleWait: use SCALE_WAIT_NONE (1, or 0 = unspecified), SCALE_WAIT_ENABLED (2) "
        "or SCALE_WAIT_ONLINE (3)"));
  }
  return absl::OkStatus();
}

absl::Status CheckCreateCaps(const ServiceOptions& options,
                             const std::vector<vmm::VmInfo>& existing, uint64_t memory_mib) {
  if (options.max_vms > 0 && existing.size() >= static_cast<size_t>(options.max_vms)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("this vmmd holds ", existing.size(),
                     " VMs, its cap (vmmd --max_vms=", options.max_vms, "); delete one first"));
  }
  if (options.memory_budget_mib == 0) return absl::OkStatus();
  const double allowed_d =
      static_cast<double>(options.memory_budget_mib) * options.memory_overcommit;
  const uint64_t allowed = allowed_d >= 1.8e19 ? UINT64_MAX : static_cast<uint64_t>(allowed_d);
  uint64_t used = 0;
  for (const vmm::VmInfo& vm : existing) {
    used = vm.spec.memory_mib > UINT64_MAX - used ? UINT64_MAX : used + vm.spec.memory_mib;
  }
  const uint64_t free = used >= allowed ? 0 : allowed - used;
  if (memory_mib > free) {
    return absl::ResourceExhaustedError(
        absl::StrCat("guest memory budget: the VM asks ", memory_mib, " MiB but only ", free,
                     " MiB of ", allowed, " MiB are free (", used, " MiB used by ", existing.size(),
                     " VMs; budget vmmd --memory_budget_mib=", options.memory_budget_mib,
                     " x --memory_overcommit=", options.memory_overcommit, ")"));
  }
  return absl::OkStatus();
}

grpc::Status VmmService::CreateVm(grpc::ServerContext*, const v1::CreateVmRequest* request,
                                  v1::Vm* response) {
  const absl::Time start = absl::Now();
  return Finish("CreateVm", request->spec().name(), DoCreateVm(*request, response), start);
}

grpc::Status VmmService::StartVm(grpc::ServerContext*, const v1::StartVmRequest* request,
                                 v1::Vm* response) {
  const absl::Time start = absl::Now();
  return Finish("StartVm", request->name(), DoStartVm(*request, response), start);
}

grpc::Status VmmService::StopVm(grpc::ServerContext*, const v1::StopVmRequest* request,
                                v1::Vm* response) {
  const absl::Time start = absl::Now();
  return Finish("StopVm", request->name(), DoStopVm(*request, response), start);
}

grpc::Status VmmService::DeleteVm(grpc::ServerContext*, const v1::DeleteVmRequest* request,
                                  v1::DeleteVmResponse*) {
  const absl::Time start = absl::Now();
  return Finish("DeleteVm", request->name(), DoDeleteVm(*request), start);
}

grpc::Status VmmService::GetVm(grpc::ServerContext*, const v1::GetVmRequest* request,
                               v1::Vm* response) {
  const absl::Time start = absl::Now();
  return FinishRead("GetVm", request->name(), DoGetVm(request->name(), response), start);
}

grpc::Status VmmService::ListVms(grpc::ServerContext*, const v1::ListVmsRequest*,
                                 v1::ListVmsResponse* response) {
  const absl::Time start = absl::Now();
  for (const vmm::VmInfo& info : vms_->ListVms()) *response->add_vms() = VmToProto(info);
  return FinishRead("ListVms", "", absl::OkStatus(), start);
}

grpc::Status VmmService::GetCPUState(grpc::ServerContext*, const v1::GetCPUStateRequest* request,
                                     v1::GetCPUStateResponse* response) {
  const absl::Time start = absl::Now();
  return FinishRead("GetCPUState", request->name(), DoGetCpuState(*request, response), start);
}

grpc::Status VmmService::SetAutoscalePolicy(grpc::ServerContext*,
                                            const v1::SetAutoscalePolicyRequest* request,
                                            v1::Vm* response) {
  const absl::Time start = absl::Now();
  return Finish("SetAutoscalePolicy", request->name(), DoSetAutoscalePolicy(*request, response),
                start);
}

// An autoscaler reports every few seconds per VM: logged only when refused, like a read.
grpc::Status VmmService::ReportAutoscaleStatus(grpc::ServerContext*,
                                               const v1::ReportAutoscaleStatusRequest* request,
                                               v1::Vm* response) {
  const absl::Time start = absl::Now();
  return FinishRead("ReportAutoscaleStatus", request->name(),
                    DoReportAutoscaleStatus(*request, response), start);
}

absl::Status VmmService::DoScale(const v1::ScaleVCPUsRequest& request, absl::Time call_deadline,
                                 v1::ScaleVCPUsResponse* response) {
  VMMD_RETURN_IF_ERROR(ValidateVmName(request.name(), "name"));
  VMMD_RETURN_IF_ERROR(ValidateScaleWait(request.wait()));
  VMMD_ASSIGN_OR_RETURN(absl::Time deadline, ScaleDeadline(request, absl::Now(), call_deadline));
  VMMD_ASSIGN_OR_RETURN(vmm::ScaleResult result,
                        vms_->ScaleVcpus(request.name(), request.target_vcpus(),
                                         ScaleWaitFromProto(request.wait()), deadline));
  response->set_name(request.name());
  response->set_previous_vcpus(result.previous);
  response->set_current_vcpus(result.current);
  for (const core::VcpuInfo& vcpu : result.vcpus) *response->add_vcpus() = VcpuToProto(vcpu);
  return absl::OkStatus();
}

absl::Status VmmService::DoCreateVm(const v1::CreateVmRequest& request, v1::Vm* response) {
  VMMD_RETURN_IF_ERROR(ValidateCreateVmRequest(request));
  VMMD_ASSIGN_OR_RETURN(vmm::AutoscalePolicy policy,
                        AutoscalePolicyFromProto(request.autoscale(), "autoscale"));
  const vmm::VmSpec spec = VmSpecFromProto(request.spec());
  // A wrong field is the client's to fix whatever the caps: it is reported first.
  VMMD_RETURN_IF_ERROR(vms_->ValidateSpecFields(spec));
  {
    absl::MutexLock lock(&create_mu_);
    VMMD_RETURN_IF_ERROR(CheckCreateCaps(options_, vms_->ListVms(), request.spec().memory_mib()));
    VMMD_RETURN_IF_ERROR(vms_->CreateVm(spec, policy));
  }
  return DoGetVm(request.spec().name(), response);
}

absl::Status VmmService::DoStartVm(const v1::StartVmRequest& request, v1::Vm* response) {
  VMMD_RETURN_IF_ERROR(ValidateVmName(request.name(), "name"));
  VMMD_RETURN_IF_ERROR(vms_->StartVm(request.name()));
  return DoGetVm(request.name(), response);
}

absl::Status VmmService::DoStopVm(const v1::StopVmRequest& request, v1::Vm* response) {
  VMMD_RETURN_IF_ERROR(ValidateVmName(request.name(), "name"));
  VMMD_ASSIGN_OR_RETURN(vmm::StopOptions options, StopOptionsFromRequest(request));
  VMMD_RETURN_IF_ERROR(vms_->StopVm(request.name(), options));
  return DoGetVm(request.name(), response);
}

absl::Status VmmService::DoDeleteVm(const v1::DeleteVmRequest& request) {
  VMMD_RETURN_IF_ERROR(ValidateVmName(request.name(), "name"));
  return vms_->DeleteVm(request.name());
}

absl::Status VmmService::DoGetVm(const std::string& name, v1::Vm* response) {
  VMMD_RETURN_IF_ERROR(ValidateVmName(name, "name"));
  VMMD_ASSIGN_OR_RETURN(vmm::VmInfo info, vms_->GetVm(name));
  *response = VmToProto(info);
  return absl::OkStatus();
}

absl::Status VmmService::DoSetAutoscalePolicy(const v1::SetAutoscalePolicyRequest& request,
                                              v1::Vm* response) {
  VMMD_RETURN_IF_ERROR(ValidateVmName(request.name(), "name"));
  if (!request.has_policy()) return absl::InvalidArgumentError("policy is required");
  VMMD_ASSIGN_OR_RETURN(vmm::AutoscalePolicy policy,
                        AutoscalePolicyFromProto(request.policy(), "policy"));
  VMMD_RETURN_IF_ERROR(vms_->SetAutoscalePolicy(request.name(), policy));
  return DoGetVm(request.name(), response);
}

absl::Status VmmService::DoReportAutoscaleStatus(const v1::ReportAutoscaleStatusRequest& request,
                                                 v1::Vm* response) {
  VMMD_RETURN_IF_ERROR(ValidateVmName(request.name(), "name"));
  if (!request.has_status()) return absl::InvalidArgumentError("status is required");
  VMMD_ASSIGN_OR_RETURN(vmm::AutoscaleStatus status, AutoscaleStatusFromProto(request.status()));
  VMMD_RETURN_IF_ERROR(vms_->ReportAutoscaleStatus(request.name(), std::move(status)));
  return DoGetVm(request.name(), response);
}

absl::Status VmmService::DoGetCpuState(const v1::GetCPUStateRequest& request,
                                       v1::GetCPUStateResponse* response) {
  VMMD_RETURN_IF_ERROR(ValidateVmName(request.name(), "name"));
  VMMD_ASSIGN_OR_RETURN(std::vector<core::VcpuInfo> vcpus, vms_->GetCpuState(request.name()));
  response->set_name(request.name());
  for (const core::VcpuInfo& vcpu : vcpus) *response->add_vcpus() = VcpuToProto(vcpu);
  return absl::OkStatus();
}

}  // namespace vmmd::api
