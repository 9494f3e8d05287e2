#include "vmmd/autoscaler/autoscaler_metrics.h"

namespace vmmd::autoscaler {

AutoscalerMetrics::AutoscalerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      decisions_(prometheus::BuildCounter()
                     .Name("vmm_autoscaler_decisions_total")
                     .Help("Scale decisions per VM by direction (up, down) and result (ok, error, "
                           "recommended = published only)")
                     .Register(*registry_)),
      recommended_(prometheus::BuildGauge()
                       .Name("vmm_autoscaler_recommended_vcpus")
                       .Help("The autoscaler's current vCPU recommendation per VM")
                       .Register(*registry_)),
      utilization_(prometheus::BuildGauge()
                       .Name("vmm_autoscaler_utilization_ratio")
                       .Help("Busy fraction of the online vCPUs over the last sample")
                       .Register(*registry_)),
      steal_(prometheus::BuildGauge()
                 .Name("vmm_autoscaler_steal_ratio")
                 .Help("Fraction of time the online vCPUs waited for a host CPU over the last "
                       "sample")
                 .Register(*registry_)),
      last_decision_(prometheus::BuildGauge()
                         .Name("vmm_autoscaler_last_decision_timestamp_seconds")
                         .Help("Unix time of the last scale decision per VM")
                         .Register(*registry_)),
      samples_(prometheus::BuildCounter()
                   .Name("vmm_autoscaler_samples_total")
                   .Help("VM samples taken, by whether the interval could be used (used, "
                         "skipped: it straddled a resize or restart)")
                   .Register(*registry_)),
      api_errors_(prometheus::BuildCounter()
                      .Name("vmm_autoscaler_api_errors_total")
                      .Help("Failed calls to vmmd's API by method")
                      .Register(*registry_)) {
  samples_.Add({{"result", "used"}});
  samples_.Add({{"result", "skipped"}});
}

void AutoscalerMetrics::Decision(const std::string& vm, const char* direction, const char* result,
                                 absl::Time when) {
  prometheus::Counter& c =
      decisions_.Add({{"vm", vm}, {"direction", direction}, {"result", result}});
  c.Increment();
  last_decision_.Add({{"vm", vm}}).Set(absl::ToDoubleSeconds(when - absl::UnixEpoch()));
  absl::MutexLock lock(&mu_);
  auto [begin, end] = vm_decisions_.equal_range(vm);
  for (auto it = begin; it != end; ++it) {
    if (it->second == &c) return;
  }
  vm_decisions_.emplace(vm, &c);
}

void AutoscalerMetrics::Sampled(const std::string& vm, double utilization, double steal,
                                uint32_t recommended) {
  utilization_.Add({{"vm", vm}}).Set(utilization);
  steal_.Add({{"vm", vm}}).Set(steal);
  recommended_.Add({{"vm", vm}}).Set(recommended);
}

void AutoscalerMetrics::SampleUsed(bool used) {
  samples_.Add({{"result", used ? "used" : "skipped"}}).Increment();
}

void AutoscalerMetrics::ApiError(const std::string& method) {
  api_errors_.Add({{"method", method}}).Increment();
}

void AutoscalerMetrics::Forget(const std::string& vm) {
  const std::map<std::string, std::string> labels = {{"vm", vm}};
  if (recommended_.Has(labels)) recommended_.Remove(&recommended_.Add(labels));
  if (utilization_.Has(labels)) utilization_.Remove(&utilization_.Add(labels));
  if (steal_.Has(labels)) steal_.Remove(&steal_.Add(labels));
  if (last_decision_.Has(labels)) last_decision_.Remove(&last_decision_.Add(labels));
  absl::MutexLock lock(&mu_);
  auto [begin, end] = vm_decisions_.equal_range(vm);
  for (auto it = begin; it != end; ++it) decisions_.Remove(it->second);
  vm_decisions_.erase(begin, end);
}

}  // namespace vmmd::autoscaler
