#include "vmmd/metrics/server.h"

#include <exception>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace vmmd::metrics {

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, std::shared_ptr<prometheus::Collectable> collector) {
  const size_t colon = address.rfind(':');
  uint32_t port = 0;
  // One address: civetweb would also take a comma-separated list, or suffixes (s, r) after the
  // port, none of which this flag means.
  if (colon == std::string::npos || colon == 0 ||
      address.find_first_of(", \t") != std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_address must be HOST:PORT (e.g. 127.0.0.1:9477, [::]:9477), got '",
                     address, "'"));
  }
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve /metrics on ", address, " (is the port in use?): ", e.what()));
  }
  exposer->RegisterCollectable(collector);
  const std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(absl::StrCat("cannot serve /metrics on ", address));
  }
  return std::unique_ptr<MetricsServer>(
      new MetricsServer(std::move(exposer), std::move(collector), ports.front()));
}

}  // namespace vmmd::metrics
