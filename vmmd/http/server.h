// vmmd's HTTP endpoint, on civetweb (Debian's libcivetweb, the library prometheus-cpp's own
// exposer is built on):
//   /metrics  the collector's families in Prometheus' text format (gzip when the client accepts
//             it), after three families about the endpoint itself under the names
//             prometheus-cpp's exposer gave them (exposer_*), so the exposition is what it was
//   /healthz  200 "ok\n" while the server runs (liveness)
//   /readyz   200 "ready\n" when the readiness check passes, else 503 "not ready: <why>\n"
// GET and HEAD only (other methods: 405); any other path: 404. Every reply is text/plain with
// Cache-Control: no-store, and closes the connection.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "prometheus/summary.h"
#include "vmmd/http/http_reply.h"

struct mg_connection;
struct mg_context;

namespace vmmd::http {

class MetricsServer {
 public:
  // OK when vmmd is ready for work; otherwise the message says why not (one line). Called for
  // every GET and HEAD /readyz, from the server's threads: it must be cheap and thread-safe.
  using ReadinessCheck = std::function<absl::Status()>;

  // Serves at http://<address>/. `address` is HOST:PORT (PORT 0: any free port, see port()).
  // INVALID_ARGUMENT for anything but one HOST:PORT; UNAVAILABLE when the address cannot be
  // bound (in use, not local), with civetweb's reason. Without `readiness`, /readyz is ready
  // whenever the server runs.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, std::shared_ptr<prometheus::Collectable> collector,
      ReadinessCheck readiness = nullptr);

  // Stops serving; returns once no request is being handled (the checks are no longer called).
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port it listens on.
  int port() const { return port_; }

 private:
  struct Request {
    absl::string_view method;
    absl::string_view path;
    absl::string_view accept_encoding;
  };

  MetricsServer(std::shared_ptr<prometheus::Collectable> collector, ReadinessCheck readiness);

  // civetweb's callbacks; the server is the context's user data.
  static int OnRequest(mg_connection* conn);
  static int OnLog(const mg_connection* conn, const char* message);

  // Writes the body of the reply to `request` into `reply` and adds its Content-Type (and
  // Content-Encoding, Allow) to `headers`; returns its status code.
  int Serve(const Request& request, Reply* reply, std::vector<Reply::Header>* headers);
  int ServeMetrics(const Request& request, Reply* reply, std::vector<Reply::Header>* headers);

  const std::shared_ptr<prometheus::Collectable> collector_;
  const ReadinessCheck readiness_;

  // The endpoint's own families (exposer_*), collected before the collector's.
  const std::shared_ptr<prometheus::Registry> self_ = std::make_shared<prometheus::Registry>();
  prometheus::Counter& transferred_bytes_;
  prometheus::Counter& scrapes_;
  prometheus::Summary& latencies_us_;
  // The size of the last /metrics body: the next one reserves that much (no regrowth).
  std::atomic<size_t> last_body_size_{0};
  // The memory of earlier /metrics replies, for the next ones (see ReplyStorage).
  ReplyStorage TakeStorage();
  void KeepStorage(ReplyStorage storage);
  absl::Mutex storage_mu_;
  std::vector<ReplyStorage> storage_ ABSL_GUARDED_BY(storage_mu_);

  // civetweb's messages while it starts (the reason a bind failed); later ones are logged.
  absl::Mutex log_mu_;
  std::vector<std::string> start_log_ ABSL_GUARDED_BY(log_mu_);
  bool started_ ABSL_GUARDED_BY(log_mu_) = false;

  mg_context* context_ = nullptr;
  int port_ = 0;
};

}  // namespace vmmd::http
