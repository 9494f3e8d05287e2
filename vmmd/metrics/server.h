// The /metrics endpoint: prometheus-cpp's pull exposer (civetweb) serving one collector.
// prometheus-cpp reports a port it cannot bind by throwing; Start turns that into a status.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"

namespace vmmd::metrics {

class MetricsServer {
 public:
  // Serves `collector` at http://<address>/metrics. `address` is HOST:PORT (PORT 0: any free
  // port, see port()). INVALID_ARGUMENT for an address without a port; UNAVAILABLE when the
  // address cannot be bound (in use, not local), with civetweb's reason.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, std::shared_ptr<prometheus::Collectable> collector);

  // The port it listens on.
  int port() const { return port_; }

 private:
  MetricsServer(std::unique_ptr<prometheus::Exposer> exposer,
                std::shared_ptr<prometheus::Collectable> collector, int port)
      : collector_(std::move(collector)), exposer_(std::move(exposer)), port_(port) {}

  std::shared_ptr<prometheus::Collectable> collector_;  // the exposer holds a weak_ptr
  std::unique_ptr<prometheus::Exposer> exposer_;
  const int port_;
};

}  // namespace vmmd::metrics
