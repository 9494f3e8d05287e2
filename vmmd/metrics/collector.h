// vmmd's /metrics: every family is built at scrape time from what the owners report (the VM
// manager's Report(), the API's counters, /proc for the process) — no polling thread, no VM lock
// across a slow call, O(VMs x vCPUs). docs/metrics.md lists every family.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "vmmd/api/api_stats.h"
#include "vmmd/metrics/process_stats.h"
#include "vmmd/vmm/vm_manager.h"

namespace vmmd::metrics {

struct BuildInfo {
  std::string version;  // vmmd's
  std::string arch;     // the host architecture vmmd was built for
};

// What vmmd learnt about the host at start-up.
struct HostFacts {
  bool wfi_trapped = true;  // core::HostCapabilities::wfi_trapped
};

// What one scrape is made of.
struct ScrapeInputs {
  vmm::ManagerReport vms;
  api::ApiStats::Snapshot api;
  absl::StatusOr<ProcessStats> process = ProcessStats{};
  BuildInfo build;
  HostFacts host;
};

// The families of one scrape (pure; tests feed it).
std::vector<prometheus::MetricFamily> BuildFamilies(const ScrapeInputs& in);

class Collector final : public prometheus::Collectable {
 public:
  // `vms` and `api` must outlive the collector.
  Collector(vmm::VmManager* vms, const api::ApiStats* api, BuildInfo build, HostFacts host)
      : vms_(vms), api_(api), build_(std::move(build)), host_(host) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  vmm::VmManager* const vms_;
  const api::ApiStats* const api_;
  const BuildInfo build_;
  const HostFacts host_;
  // Scrapes that could not read a source (the process' /proc files); counted, never fatal.
  mutable std::atomic<uint64_t> errors_{0};
};

// This build's version and architecture.
BuildInfo ThisBuild();

}  // namespace vmmd::metrics
