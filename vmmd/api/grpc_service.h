// The vmmd.v1.Vmm gRPC service: thin. Each handler checks the request's shape, calls
// vmm::VmManager and converts the answer. No VM logic lives here; every request field is checked
// before use, so no client input can crash the daemon. The short calls are synchronous; the
// calls that can last (WatchEvents, a ScaleVCPUs that waits) use gRPC's callback API and hold
// no server thread while they wait (long_calls.h), up to ServiceOptions::max_streams at once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "grpcpp/support/status.h"
#include "vmmd/api/api_stats.h"
#include "vmmd/api/long_calls.h"
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

// What a client may hold or create at once. Every refusal is RESOURCE_EXHAUSTED with a message
// naming the cap and its vmmd flag.
struct ServiceOptions {
  // WatchEvents streams plus ScaleVCPUs calls waiting for their guest (--max_streams).
  int max_streams = 256;
  // VMs that exist (any state), checked by CreateVm (--max_vms). 0: no cap.
  int max_vms = 0;
  // Guest memory of every VM that exists (any state, so a StartVm never finds the memory
  // promised to another VM), checked by CreateVm against budget x overcommit
  // (--memory_budget_mib, --memory_overcommit). 0: no budget.
  uint64_t memory_budget_mib = 0;
  double memory_overcommit = 1.0;
};

// The refusal of a CreateVm beyond ServiceOptions' caps (exposed for tests): `existing` are the
// VMs there are, `memory_mib` what the new one asks. OK within the caps.
absl::Status CheckCreateCaps(const ServiceOptions& options,
                             const std::vector<vmm::VmInfo>& existing, uint64_t memory_mib);

// How a refused call's status appears in the API's log line: "CODE: message", the message
// C-escaped and cut at kMaxLoggedMessage bytes with "...(N bytes)" (a client's 3 MiB path must
// not land in the log whole).
inline constexpr size_t kMaxLoggedMessage = 512;
std::string LoggedStatus(const absl::Status& status);

// How a StopVm stops its VM: force → at once; otherwise gracefully with the request's timeout
// (default 30 s; INVALID_ARGUMENT naming the field outside (0, 10 min], or with force).
absl::StatusOr<vmm::StopOptions> StopOptionsFromRequest(const v1::StopVmRequest& request);

// A ScaleVCPUs `wait` that is a ScaleWait value (INVALID_ARGUMENT naming the field otherwise).
absl::Status ValidateScaleWait(int wait);

class VmmService final : public v1::Vmm::WithCallbackMethod_WatchEvents<
                             v1::Vmm::WithCallbackMethod_ScaleVCPUs<v1::Vmm::Service>> {
 public:
  // `vms` must outlive the service.
  explicit VmmService(vmm::VmManager* vms, const ServiceOptions& options = {});
  // Ends every long-lived call (UNAVAILABLE "vmmd is shutting down") and refuses new ones
  // (LongCalls::Shutdown). The daemon calls it before shutting the server down, so that the
  // server's shutdown never waits for a stream.
  void EndLongCalls() { long_calls_.Shutdown(); }
  // Long-lived calls open now.
  int open_long_calls() const { return long_calls_.open(); }
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
  grpc::ServerUnaryReactor* ScaleVCPUs(grpc::CallbackServerContext* context,
                                       const v1::ScaleVCPUsRequest* request,
                                       v1::ScaleVCPUsResponse* response) override;
  grpc::Status SetAutoscalePolicy(grpc::ServerContext* context,
                                  const v1::SetAutoscalePolicyRequest* request,
                                  v1::Vm* response) override;
  grpc::Status ReportAutoscaleStatus(grpc::ServerContext* context,
                                     const v1::ReportAutoscaleStatusRequest* request,
                                     v1::Vm* response) override;
  grpc::ServerWriteReactor<v1::Event>* WatchEvents(grpc::CallbackServerContext* context,
                                                   const v1::WatchEventsRequest* request) override;

 private:
  class WatchReactor;
  class ScaleReactor;
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
  const ServiceOptions options_;
  ApiStats stats_;
  // Serialises CreateVm's cap checks with the creation they allow.
  absl::Mutex create_mu_;
  // Last member: its destructor waits for the calls, which use the members above.
  LongCalls long_calls_;
};

}  // namespace vmmd::api
