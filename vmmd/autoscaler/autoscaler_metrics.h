// vmm-autoscaler's own /metrics (prometheus-cpp registry): what it decided and measured per VM.
// Families (docs/autoscaling.md):
//   vmm_autoscaler_decisions_total{vm,direction,result}   direction up|down; result ok|error|
//       recommended (RECOMMEND mode or --dry_run: published, not applied)
//   vmm_autoscaler_recommended_vcpus{vm}                   the current recommendation
//   vmm_autoscaler_utilization_ratio{vm}, vmm_autoscaler_steal_ratio{vm}   last sample
//   vmm_autoscaler_last_decision_timestamp_seconds{vm}     last decision (unix time)
//   vmm_autoscaler_samples_total{result}                   used | skipped
//   vmm_autoscaler_api_errors_total{method}                failed calls to vmmd
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace vmmd::autoscaler {

class AutoscalerMetrics {
 public:
  AutoscalerMetrics();
  std::shared_ptr<prometheus::Registry> registry() { return registry_; }

  void Decision(const std::string& vm, const char* direction, const char* result, absl::Time when);
  void Sampled(const std::string& vm, double utilization, double steal, uint32_t recommended);
  void SampleUsed(bool used);
  void ApiError(const std::string& method);
  // Drops every series of a VM that is gone (or no longer autoscaled).
  void Forget(const std::string& vm);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& decisions_;
  prometheus::Family<prometheus::Gauge>& recommended_;
  prometheus::Family<prometheus::Gauge>& utilization_;
  prometheus::Family<prometheus::Gauge>& steal_;
  prometheus::Family<prometheus::Gauge>& last_decision_;
  prometheus::Family<prometheus::Counter>& samples_;
  prometheus::Family<prometheus::Counter>& api_errors_;
  absl::Mutex mu_;
  // Which decision series each VM has, so Forget can remove them.
  std::multimap<std::string, prometheus::Counter*> vm_decisions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmmd::autoscaler
