// vmm-autoscaler's control loop over vmmd's public API. Every `interval` (and at once when
// WatchEvents reports a policy or VM state change) it lists the VMs, samples each RUNNING VM whose
// policy is AUTO or RECOMMEND (GetCPUState: per-vCPU busy/delay counters), asks the VM's
// Recommender, publishes the outcome with ReportAutoscaleStatus and, in AUTO mode, calls
// ScaleVCPUs(wait=ONLINE) on a thread of that VM's own (one at a time per VM), backing off
// exponentially after an error. Everything it knows is rebuilt from vmmd, so a restart of either
// side loses nothing but the stabilisation windows.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "vmmd/autoscaler/autoscaler_metrics.h"
#include "vmmd/autoscaler/recommender.h"
#include "vmmd/v1/vmm.grpc.pb.h"

namespace vmmd::autoscaler {

struct ControllerOptions {
  absl::Duration interval = absl::Seconds(5);
  double max_steal = 0.2;
  bool dry_run = false;                              // RECOMMEND whatever the policy says
  absl::Duration scale_timeout = absl::Seconds(60);  // ScaleVCPUs' wait for ONLINE
  // No decision for a VM this soon after it started: firmware and kernel boot keep the boot
  // vCPUs busy, which says nothing about the workload (HPA's CPU initialisation period).
  absl::Duration startup_delay = absl::Seconds(60);
  std::string reporter = "vmm-autoscaler";
};

// The first back-off after a failed scale, and its cap (it doubles in between). A guest that
// refused or lacks hotplug support (FAILED_PRECONDITION) starts at the cap.
inline constexpr absl::Duration kMaxBackoff = absl::Minutes(10);
absl::Duration NextBackoff(absl::Duration previous, absl::Duration interval, bool precondition);

Policy PolicyFromProto(const v1::AutoscalePolicy& p);
// One sample of a VM from its GetCPUState answer, taken at `now`.
Sample SampleFromProto(const v1::GetCPUStateResponse& cpus, absl::Time now);

class Controller {
 public:
  // `metrics` may be null.
  Controller(std::shared_ptr<grpc::Channel> channel, ControllerOptions options,
             AutoscalerMetrics* metrics);
  ~Controller();  // Stop()
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Runs until Stop(): the loop and the event watcher.
  void Run();
  void Stop();
  // One pass of the loop (Run calls it; tests call it directly).
  void Tick();
  // Whether the last ListVms reached vmmd (the autoscaler's readiness).
  bool connected() const { return connected_.load(); }

 private:
  struct ScaleJob {
    std::thread thread;
    grpc::ClientContext context;
    uint32_t from = 0, to = 0;
    absl::Time started;
    std::atomic<bool> done{false};
    grpc::Status status;
  };
  struct Tracker {
    std::string policy_bytes;  // the policy the windows were built under
    absl::Time started_at;
    std::optional<Sample> previous;
    std::unique_ptr<Recommender> recommender;
    std::unique_ptr<ScaleJob> job;
    absl::Time retry_at = absl::InfinitePast();
    absl::Duration backoff = absl::ZeroDuration();
    std::string backoff_code;
    // The last scale this autoscaler made, for the status report.
    absl::Time last_scale_time = absl::InfinitePast();
    uint32_t last_from = 0, last_to = 0;
    std::string last_result;
    uint32_t last_published = 0;  // recommendation last counted as a RECOMMEND decision
    // The last decision and its load, re-published when a scale finishes.
    Decision last_decision;
    Load last_load;
  };

  void Watch();
  void Wake();
  void Visit(const v1::Vm& vm, Tracker& t);
  void Reap(const std::string& name, Tracker& t);
  void StartScale(const std::string& name, Tracker& t, uint32_t from, uint32_t to);
  void Report(const std::string& name, const Tracker& t, const Decision& d, const Load& load);
  void ApiError(const char* method, const grpc::Status& status, const std::string& vm);

  std::unique_ptr<v1::Vmm::Stub> stub_;
  const ControllerOptions options_;
  AutoscalerMetrics* const metrics_;
  std::map<std::string, Tracker> trackers_;  // Tick's only (one thread)
  std::atomic<bool> connected_{false};

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread watcher_;
};

}  // namespace vmmd::autoscaler
