// The vmmd.v1.Vmm gRPC service: thin and synchronous. Each handler checks the request's
// shape, calls vmm::VmManager and converts the answer. No VM logic lives here; every
// request field is checked before use, so no client input can crash the daemon.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "vmmd/api/api_stats.h"
#include "vmmd/v1/vmm.grpc.pb.h"
#include "vmmd/v1/vmm.pb.h"
#include "vmmd/vmm/vm_manager.h"

namespace vmmd::api {

// Shape checks of the handlers (exposed for tests): INVALID_ARGUMENT naming the field. The
// content of a spec is vmm::VmManager's to validate.
absl::Status ValidateVmName(const std::string& name, const char* field);
absl::Status ValidateCreateVmRequest(const v1::CreateVmRequest& request);
// How long a ScaleVCPUs request may wait: its timeout (default 60 s; INVALID_ARGUMENT outside
// (0, 1 h]), capped by the call's deadline.
absl::StatusOr<absl::Time> ScaleDeadline(const v1::ScaleVCPUsRequest& request, absl::Time now,
                                         absl::Time call_deadline);

class VmmService final : public v1::Vmm::Service {
 public:
  // `vms` must outlive the service.
  explicit VmmService(vmm::VmManager* vms);
  // What the service served (the metrics read it).
  const ApiStats& stats() const { return stats_; }
  VmmService(const VmmService&) = delete;
  VmmService& operator=(const VmmService&) = delete;

  grpc::Status CreateVm(grpc::ServerContext* context, const v1::CreateVmRequest* request,
                        v1::Vm* response) override;
  grpc::Status StartVm(grpc::ServerContext* context, const v1::StartVmRequest* request,
                       v1::Vm* response) override;
  grpc::Status StopVm(grpc::ServerContext* context, const v1::StopVmRequest* request,
                      v1::Vm* response) override;
  grpc::Status DeleteVm(grpc::ServerContext* context, const v1::DeleteVmRequest* request,
                        v1::DeleteVmResponse* response) override;
  grpc::Status GetVm(grpc::ServerContext* context, const v1::GetVmRequest* request,
                     v1::Vm* response) override;
  grpc::Status ListVms(grpc::ServerContext* context, const v1::ListVmsRequest* request,
                       v1::ListVmsResponse* response) override;
  grpc::Status GetCPUState(grpc::ServerContext* context, const v1::GetCPUStateRequest* request,
                           v1::GetCPUStateResponse* response) override;
  grpc::Status ScaleVCPUs(grpc::ServerContext* context, const v1::ScaleVCPUsRequest* request,
                          v1::ScaleVCPUsResponse* response) override;
  grpc::Status SetAutoscalePolicy(grpc::ServerContext* context,
                                  const v1::SetAutoscalePolicyRequest* request,
                                  v1::Vm* response) override;
  grpc::Status ReportAutoscaleStatus(grpc::ServerContext* context,
                                     const v1::ReportAutoscaleStatusRequest* request,
                                     v1::Vm* response) override;
  grpc::Status WatchEvents(grpc::ServerContext* context, const v1::WatchEventsRequest* request,
                           grpc::ServerWriter<v1::Event>* writer) override;

 private:
  // Log, count (`start`: when a unary call began; absl::InfinitePast() for a stream) and convert.
  grpc::Status Finish(absl::string_view method, const std::string& name, const absl::Status& status,
                      absl::Time start);
  grpc::Status FinishRead(absl::string_view method, const std::string& name,
                          const absl::Status& status, absl::Time start);
  absl::Status DoCreateVm(const v1::CreateVmRequest& request, v1::Vm* response);
  absl::Status DoStartVm(const v1::StartVmRequest& request, v1::Vm* response);
  absl::Status DoStopVm(const v1::StopVmRequest& request, v1::Vm* response);
  absl::Status DoDeleteVm(const v1::DeleteVmRequest& request);
  absl::Status DoGetVm(const std::string& name, v1::Vm* response);
  absl::Status DoSetAutoscalePolicy(const v1::SetAutoscalePolicyRequest& request, v1::Vm* response);
  absl::Status DoReportAutoscaleStatus(const v1::ReportAutoscaleStatusRequest& request,
                                       v1::Vm* response);
  absl::Status DoGetCpuState(const v1::GetCPUStateRequest& request,
                             v1::GetCPUStateResponse* response);
  absl::Status DoScale(const v1::ScaleVCPUsRequest& request, absl::Time call_deadline,
                       v1::ScaleVCPUsResponse* response);

  vmm::VmManager* const vms_;
  ApiStats stats_;
};

}  // namespace vmmd::api
