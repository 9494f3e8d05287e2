#include "vmmd/http/server.h"

#include <civetweb.h>

#include <algorithm>
#include <ostream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/common/log.h"
#include "prometheus/text_serializer.h"

namespace vmmd::http {
namespace {

// Worker threads: a scrape and a probe at the same time.
constexpr size_t kWorkers = 2;
// The memory kept for the next /metrics reply, at most (per worker).
constexpr size_t kMaxKeptStorage = 64 << 20;
constexpr char kPlainText[] = "text/plain; charset=utf-8";
// Prometheus' text exposition format.
constexpr char kExposition[] = "text/plain; version=0.0.4; charset=utf-8";

absl::string_view OrEmpty(const char* s) { return s == nullptr ? absl::string_view() : s; }

void Append(Reply* reply, absl::string_view text) {
  reply->buffer()->append(text.data(), text.size());
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, std::shared_ptr<prometheus::Collectable> collector,
    ReadinessCheck readiness) {
  const size_t colon = address.rfind(':');
  uint32_t port = 0;
  // One address: civetweb would also take a comma-separated list, or suffixes (s, r) after the
  // port, none of which this flag means.
  if (colon == std::string::npos || colon == 0 ||
      address.find_first_of(", \t") != std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metrics_address must be HOST:PORT (e.g. 127.0.0.1:9477, 0.0.0.0:9477), got '", address,
        "'"));
  }
  if (address[0] == '[') {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metrics_address: IPv6 listen addresses are not supported (Debian's civetweb refuses "
        "them); use an IPv4 address such as 0.0.0.0:PORT, got '",
        address, "'"));
  }
  if (collector == nullptr) return absl::InvalidArgumentError("no collector");
  // Once per process, never undone (civetweb's global state; safe against concurrent starts).
  static const unsigned civetweb_features = mg_init_library(0);
  (void)civetweb_features;

  std::unique_ptr<MetricsServer> server(
      new MetricsServer(std::move(collector), std::move(readiness)));
  const std::string threads = absl::StrCat(kWorkers);
  const char* options[] = {"listening_ports", address.c_str(), "num_threads", threads.c_str(),
                           nullptr};
  mg_callbacks callbacks{};
  callbacks.begin_request = &MetricsServer::OnRequest;
  callbacks.log_message = &MetricsServer::OnLog;
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = server.get();
  init.configuration_options = options;
  char error_text[256] = "";
  mg_error_data error{};
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);
  server->context_ = mg_start2(&init, &error);

  std::vector<std::string> log;
  {
    absl::MutexLock lock(&server->log_mu_);
    server->started_ = true;
    log.swap(server->start_log_);
  }
  if (server->context_ == nullptr) {
    // civetweb logs the precise reason ("cannot bind to ...: 98 (Address already in use)")
    // and returns a general one ("Failed to setup server ports").
    if (log.size() > 1) log.erase(std::remove(log.begin(), log.end(), error_text), log.end());
    if (log.empty()) log.push_back(error_text[0] != '\0' ? error_text : "civetweb did not start");
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", address, ": ", absl::StrJoin(log, "; ")));
  }
  mg_server_port ports[4] = {};
  if (mg_get_server_ports(server->context_, 4, ports) < 1) {
    return absl::UnavailableError(absl::StrCat("cannot serve HTTP on ", address, ": no port"));
  }
  server->port_ = ports[0].port;
  return server;
}

MetricsServer::MetricsServer(std::shared_ptr<prometheus::Collectable> collector,
                             ReadinessCheck readiness)
    : collector_(std::move(collector)),
      readiness_(std::move(readiness)),
      transferred_bytes_(prometheus::BuildCounter()
                             .Name("exposer_transferred_bytes_total")
                             .Help("Transferred bytes to metrics services")
                             .Register(*self_)
                             .Add({})),
      scrapes_(prometheus::BuildCounter()
                   .Name("exposer_scrapes_total")
                   .Help("Number of times metrics were scraped")
                   .Register(*self_)
                   .Add({})),
      latencies_us_(
          prometheus::BuildSummary()
              .Name("exposer_request_latencies")
              .Help("Latencies of serving scrape requests, in microseconds")
              .Register(*self_)
              .Add({}, prometheus::Summary::Quantiles{{0.5, 0.05}, {0.9, 0.01}, {0.99, 0.001}})) {}

MetricsServer::~MetricsServer() {
  if (context_ != nullptr) mg_stop(context_);
}

int MetricsServer::OnRequest(mg_connection* conn) {
  auto* self = static_cast<MetricsServer*>(mg_get_user_data(mg_get_context(conn)));
  const mg_request_info* info = mg_get_request_info(conn);
  if (self == nullptr || info == nullptr) return 0;  // civetweb answers
  const Request request{OrEmpty(info->request_method), OrEmpty(info->local_uri),
                        OrEmpty(mg_get_header(conn, "Accept-Encoding"))};
  const absl::Time start = absl::Now();
  const bool metrics = request.path == "/metrics";
  Reply reply(metrics ? self->last_body_size_.load(std::memory_order_relaxed) * 9 / 8 : 0,
              metrics ? self->TakeStorage() : ReplyStorage{});
  std::vector<Reply::Header> headers;
  const int status = self->Serve(request, &reply, &headers);
  headers.emplace_back("Cache-Control", "no-store");
  headers.emplace_back("Connection", "close");
  const size_t body_size = reply.body().size();
  const absl::string_view bytes = reply.Finish(status, headers, request.method == "HEAD");
  // One write: mg_write sends it all, or fails when the client went away.
  if (mg_write(conn, bytes.data(), bytes.size()) != static_cast<int>(bytes.size())) {
    LogDebug("metrics: %s %s: the client went away", request.method, request.path);
  }
  if (metrics && request.method == "GET" && status == 200) {
    self->latencies_us_.Observe(absl::ToDoubleMicroseconds(absl::Now() - start));
    self->transferred_bytes_.Increment(static_cast<double>(body_size));
    self->scrapes_.Increment();
  }
  if (metrics) self->KeepStorage(reply.Release());
  return status;
}

ReplyStorage MetricsServer::TakeStorage() {
  absl::MutexLock lock(&storage_mu_);
  if (storage_.empty()) return {};
  ReplyStorage out = std::move(storage_.back());
  storage_.pop_back();
  return out;
}

void MetricsServer::KeepStorage(ReplyStorage storage) {
  if (storage.body.capacity() + storage.spare.capacity() > kMaxKeptStorage) return;
  absl::MutexLock lock(&storage_mu_);
  // One per worker thread: as many as can be in use at once.
  if (storage_.size() < kWorkers) storage_.push_back(std::move(storage));
}

int MetricsServer::Serve(const Request& request, Reply* reply,
                         std::vector<Reply::Header>* headers) {
  const absl::string_view path = request.path;
  const bool get_or_head = request.method == "GET" || request.method == "HEAD";
  if (path == "/metrics" && get_or_head) return ServeMetrics(request, reply, headers);
  headers->emplace_back("Content-Type", kPlainText);
  if (path != "/metrics" && path != "/healthz" && path != "/readyz") {
    Append(reply, "not found\n");
    return 404;
  }
  if (!get_or_head) {
    headers->emplace_back("Allow", "GET, HEAD");
    Append(reply, "method not allowed\n");
    return 405;
  }
  if (path == "/healthz") {
    Append(reply, "ok\n");
    return 200;
  }
  const absl::Status ready = readiness_ ? readiness_() : absl::OkStatus();
  if (ready.ok()) {
    Append(reply, "ready\n");
    return 200;
  }
  Append(reply, absl::StrCat(
                    "not ready: ", absl::StrReplaceAll(ready.message(), {{"\r", " "}, {"\n", " "}}),
                    "\n"));
  return 503;
}

int MetricsServer::ServeMetrics(const Request& request, Reply* reply,
                                std::vector<Reply::Header>* headers) {
  {
    // Encoded straight into the reply (no copy), the endpoint's families first.
    StringAppender sink(reply->buffer());
    std::ostream out(&sink);
    const prometheus::TextSerializer serializer;
    serializer.Serialize(out, self_->Collect());
    serializer.Serialize(out, collector_->Collect());
  }
  last_body_size_.store(reply->body().size(), std::memory_order_relaxed);
  headers->emplace_back("Content-Type", kExposition);
  if (AcceptsGzip(request.accept_encoding)) {
    if (absl::Status gzip = reply->Gzip(); gzip.ok()) {
      headers->emplace_back("Content-Encoding", "gzip");
    } else {
      LogWarning("metrics: /metrics goes out uncompressed: %s", gzip.ToString());
    }
  }
  return 200;
}

int MetricsServer::OnLog(const mg_connection* conn, const char* message) {
  auto* self = static_cast<MetricsServer*>(mg_get_user_data(mg_get_context(conn)));
  if (self != nullptr) {
    absl::MutexLock lock(&self->log_mu_);
    if (!self->started_) {
      self->start_log_.emplace_back(message);
      return 1;
    }
  }
  LogWarning("metrics: civetweb: %s", message);
  return 1;  // logged: civetweb writes nothing itself
}

}  // namespace vmmd::http
