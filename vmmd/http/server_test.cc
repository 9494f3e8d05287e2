// vmmd's HTTP endpoint over real sockets: /healthz and /readyz exactly (status line, headers,
// body), readiness from an injected check, GET and HEAD only, 404 elsewhere, a probe answered
// while a scrape is in progress, and /metrics byte for byte what prometheus-cpp's own exposer
// served for the same families — plain and gzip.
#include "vmmd/http/server.h"

#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/exposer.h"
#include "prometheus/text_serializer.h"
#include "tests/support/scrape.h"
#include "tests/support/status_matchers.h"

namespace vmmd::http {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::vmmd::testing::Gunzip;
using ::vmmd::testing::HttpBody;
using ::vmmd::testing::HttpGet;
using ::vmmd::testing::HttpHeader;
using ::vmmd::testing::HttpRequest;
using ::vmmd::testing::HttpStatus;
using ::vmmd::testing::IsOk;

constexpr char kHealthy[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Cache-Control: no-store\r\n"
    "Connection: close\r\n"
    "Content-Length: 3\r\n"
    "\r\n"
    "ok\n";

constexpr char kReady[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Cache-Control: no-store\r\n"
    "Connection: close\r\n"
    "Content-Length: 6\r\n"
    "\r\n"
    "ready\n";

std::string NotReady(const std::string& why) {
  const std::string body = absl::StrCat("not ready: ", why, "\n");
  return absl::StrCat(
      "HTTP/1.1 503 Service Unavailable\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Cache-Control: no-store\r\n"
      "Connection: close\r\n"
      "Content-Length: ",
      body.size(), "\r\n\r\n", body);
}

// Families that exercise the text format: label escaping, histograms, odd values.
class FixedCollectable : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::ClientMetric;
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> out;
    prometheus::MetricFamily gauge{
        "vmmd_test_gauge", "A gauge \\ with \"quotes\".", MetricType::Gauge, {}};
    for (double v : {0.0, 0.1, -2.5e-9, 1e21, 123456789.125}) {
      ClientMetric m;
      m.label = {{"vm", absl::StrCat("a\"b\\c\nd ", v)}, {"state", "on"}};
      m.gauge.value = v;
      gauge.metric.push_back(m);
    }
    out.push_back(gauge);
    prometheus::MetricFamily counter{"vmmd_test_total", "A counter.", MetricType::Counter, {}};
    ClientMetric c;
    c.counter.value = 42;
    counter.metric.push_back(c);
    out.push_back(counter);
    prometheus::MetricFamily histogram{
        "vmmd_test_seconds", "A histogram.", MetricType::Histogram, {}};
    ClientMetric h;
    h.label = {{"phase", "taken"}};
    h.histogram.sample_count = 3;
    h.histogram.sample_sum = 0.043;
    h.histogram.bucket = {{1, 0.001}, {2, 0.05}, {3, std::numeric_limits<double>::infinity()}};
    histogram.metric.push_back(h);
    out.push_back(histogram);
    return out;
  }
};

// A readiness check the test sets.
class Readiness {
 public:
  void Set(absl::Status status) {
    absl::MutexLock lock(&mu_);
    status_ = std::move(status);
  }
  MetricsServer::ReadinessCheck Check() {
    return [this] {
      absl::MutexLock lock(&mu_);
      return status_;
    };
  }

 private:
  absl::Mutex mu_;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<MetricsServer>> server =
        MetricsServer::Start("127.0.0.1:0", collectable_, readiness_.Check());
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    port_ = server_->port();
  }

  std::shared_ptr<FixedCollectable> collectable_ = std::make_shared<FixedCollectable>();
  Readiness readiness_;
  std::unique_ptr<MetricsServer> server_;
  int port_ = 0;
};

TEST_F(MetricsServerTest, HealthzAnswersWhileTheServerRuns) {
  EXPECT_EQ(HttpGet(port_, "/healthz"), kHealthy);
  EXPECT_EQ(HttpGet(port_, "/healthz?probe=kubelet"), kHealthy);  // the query is not the path
  // Whatever readiness says.
  readiness_.Set(absl::UnavailableError("shutting down"));
  EXPECT_EQ(HttpGet(port_, "/healthz"), kHealthy);
  server_.reset();
  EXPECT_EQ(HttpGet(port_, "/healthz"), "");  // nothing listens any more
}

TEST_F(MetricsServerTest, ReadyzFollowsTheCheck) {
  EXPECT_EQ(HttpGet(port_, "/readyz"), kReady);
  readiness_.Set(absl::UnavailableError("the API is not serving yet"));
  EXPECT_EQ(HttpGet(port_, "/readyz"), NotReady("the API is not serving yet"));
  readiness_.Set(absl::UnavailableError("shutting down"));
  EXPECT_EQ(HttpGet(port_, "/readyz"), NotReady("shutting down"));
  // One line, whatever the message holds.
  readiness_.Set(absl::FailedPreconditionError("first\nsecond\r\nthird"));
  EXPECT_EQ(HttpGet(port_, "/readyz"), NotReady("first second  third"));
  readiness_.Set(absl::OkStatus());
  EXPECT_EQ(HttpGet(port_, "/readyz"), kReady);
}

TEST(MetricsServerStartTest, WithoutACheckReadyzIsReadyWhileItServes) {
  absl::StatusOr<std::unique_ptr<MetricsServer>> server =
      MetricsServer::Start("127.0.0.1:0", std::make_shared<FixedCollectable>());
  ASSERT_THAT(server, IsOk());
  EXPECT_EQ(HttpGet((*server)->port(), "/readyz"), kReady);
}

TEST_F(MetricsServerTest, HeadIsTheHeadOfGet) {
  EXPECT_EQ(HttpRequest(port_, "HEAD", "/healthz"),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n"
            "Content-Length: 3\r\n"
            "\r\n");
  readiness_.Set(absl::UnavailableError("shutting down"));
  const std::string not_ready = NotReady("shutting down");
  EXPECT_EQ(HttpRequest(port_, "HEAD", "/readyz"),
            not_ready.substr(0, not_ready.find("\r\n\r\n") + 4));
  // /metrics: the length GET's body has (the first GET: the endpoint's counters still 0).
  const std::string head = HttpRequest(port_, "HEAD", "/metrics");
  EXPECT_EQ(HttpStatus(head), 200);
  EXPECT_EQ(HttpBody(head), "");
  const std::string get = HttpGet(port_, "/metrics");
  EXPECT_EQ(HttpHeader(head, "Content-Length"), absl::StrCat(HttpBody(get).size()));
  EXPECT_EQ(head, get.substr(0, get.find("\r\n\r\n") + 4));
}

TEST_F(MetricsServerTest, OtherMethodsAre405) {
  EXPECT_EQ(HttpRequest(port_, "POST", "/healthz", "Content-Length: 0\r\n"),
            "HTTP/1.1 405 Method Not Allowed\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Allow: GET, HEAD\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n"
            "Content-Length: 19\r\n"
            "\r\n"
            "method not allowed\n");
  for (const char* path : {"/metrics", "/healthz", "/readyz"}) {
    for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
      const std::string reply = HttpRequest(port_, method, path, "Content-Length: 0\r\n");
      EXPECT_EQ(HttpStatus(reply), 405) << method << " " << path << ": " << reply;
      EXPECT_EQ(HttpHeader(reply, "Allow"), "GET, HEAD") << method << " " << path;
      EXPECT_EQ(HttpBody(reply), "method not allowed\n") << method << " " << path;
    }
  }
  // A body sent along is read and dropped.
  EXPECT_EQ(HttpStatus(HttpRequest(port_, "POST", "/readyz", "Content-Length: 5\r\n", "hello")),
            405);
}

TEST_F(MetricsServerTest, OtherPathsAre404) {
  const std::string not_found =
      "HTTP/1.1 404 Not Found\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Cache-Control: no-store\r\n"
      "Connection: close\r\n"
      "Content-Length: 10\r\n"
      "\r\n"
      "not found\n";
  for (const char* path : {"/", "/nope", "/metricsx", "/metrics/", "/metrics/x", "/healthz/",
                           "/readyz/x", "/HEALTHZ", "/favicon.ico"}) {
    EXPECT_EQ(HttpGet(port_, path), not_found) << path;
  }
  EXPECT_EQ(HttpStatus(HttpRequest(port_, "POST", "/nope", "Content-Length: 0\r\n")), 404);
  EXPECT_EQ(HttpStatus(HttpRequest(port_, "HEAD", "/nope")), 404);
}

// Prometheus' text format with the latency summary's samples (timings) left out, and the
// transferred bytes (which add up those timings' lengths) split off.
struct Comparable {
  std::string text;
  double transferred = 0;
};
Comparable WithoutTimings(absl::string_view body) {
  Comparable out;
  std::vector<absl::string_view> kept;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (absl::StartsWith(line, "exposer_request_latencies{") ||
        absl::StartsWith(line, "exposer_request_latencies_sum ")) {
      continue;
    }
    if (absl::StartsWith(line, "exposer_transferred_bytes_total ")) {
      EXPECT_TRUE(absl::SimpleAtod(line.substr(line.find(' ') + 1), &out.transferred)) << line;
      continue;
    }
    kept.push_back(line);
  }
  out.text = absl::StrJoin(kept, "\n");
  return out;
}

TEST_F(MetricsServerTest, MetricsIsWhatPrometheusCppsExposerServed) {
  prometheus::Exposer exposer("127.0.0.1:0", 1);
  exposer.RegisterCollectable(collectable_);
  const int theirs_port = exposer.GetListeningPorts().front();
  double ours_sent = 0;
  for (int scrape = 0; scrape < 3; ++scrape) {
    const std::string theirs = HttpGet(theirs_port, "/metrics");
    const std::string ours = HttpGet(port_, "/metrics");
    ASSERT_EQ(HttpStatus(ours), 200) << ours;
    EXPECT_EQ(HttpHeader(ours, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(HttpHeader(ours, "Cache-Control"), "no-store");
    EXPECT_EQ(HttpHeader(ours, "Content-Length"), absl::StrCat(HttpBody(ours).size()));
    const Comparable a = WithoutTimings(HttpBody(ours));
    const Comparable b = WithoutTimings(HttpBody(theirs));
    EXPECT_EQ(a.text, b.text) << "scrape " << scrape;
    EXPECT_THAT(a.text, HasSubstr(absl::StrCat("exposer_scrapes_total ", scrape, "\n")));
    EXPECT_EQ(a.transferred, ours_sent) << "scrape " << scrape;
    ours_sent += static_cast<double>(HttpBody(ours).size());
  }
  // The endpoint's own families first, then the collector's, encoded by prometheus-cpp.
  const std::string body(HttpBody(HttpGet(port_, "/metrics")));
  EXPECT_THAT(body, StartsWith("# HELP exposer_transferred_bytes_total "));
  EXPECT_TRUE(
      absl::EndsWith(body, prometheus::TextSerializer().Serialize(collectable_->Collect())));
}

TEST_F(MetricsServerTest, MetricsGzipWhenTheClientAcceptsIt) {
  // Two fresh servers scraped the same way: one plain, one gzip; same text.
  absl::StatusOr<std::unique_ptr<MetricsServer>> other =
      MetricsServer::Start("127.0.0.1:0", collectable_);
  ASSERT_THAT(other, IsOk());
  const std::string plain = HttpGet(port_, "/metrics");
  const std::string gzip = HttpGet((*other)->port(), "/metrics", "Accept-Encoding: gzip\r\n");
  ASSERT_EQ(HttpStatus(gzip), 200);
  EXPECT_EQ(HttpHeader(gzip, "Content-Encoding"), "gzip");
  EXPECT_EQ(HttpHeader(gzip, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(HttpHeader(gzip, "Content-Length"), absl::StrCat(HttpBody(gzip).size()));
  EXPECT_EQ(HttpHeader(plain, "Content-Encoding"), "");
  EXPECT_EQ(WithoutTimings(Gunzip(HttpBody(gzip))).text, WithoutTimings(HttpBody(plain)).text);
  // What Prometheus sends; and a client that refuses gzip gets text.
  const std::string prometheus = HttpGet(
      port_, "/metrics",
      "Accept: application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4\r\n"
      "Accept-Encoding: gzip\r\n");
  EXPECT_EQ(HttpHeader(prometheus, "Content-Encoding"), "gzip");
  EXPECT_THAT(Gunzip(HttpBody(prometheus)), HasSubstr("vmmd_test_total 42\n"));
  const std::string refused = HttpGet(port_, "/metrics", "Accept-Encoding: gzip;q=0\r\n");
  EXPECT_EQ(HttpHeader(refused, "Content-Encoding"), "");
  EXPECT_THAT(std::string(HttpBody(refused)), HasSubstr("vmmd_test_total 42\n"));
}

// A collector that waits for the test.
class BlockingCollectable : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    entered_.Notify();
    release_.WaitForNotification();
    return {};
  }
  mutable absl::Notification entered_;
  mutable absl::Notification release_;
};

TEST(MetricsServerStartTest, ProbesAreAnsweredDuringASlowScrape) {
  auto slow = std::make_shared<BlockingCollectable>();
  absl::StatusOr<std::unique_ptr<MetricsServer>> server = MetricsServer::Start("127.0.0.1:0", slow);
  ASSERT_THAT(server, IsOk());
  const int port = (*server)->port();
  std::string scraped;
  std::thread scrape([&] { scraped = HttpGet(port, "/metrics"); });
  slow->entered_.WaitForNotification();
  EXPECT_EQ(HttpGet(port, "/healthz"), kHealthy);
  EXPECT_EQ(HttpGet(port, "/readyz"), kReady);
  slow->release_.Notify();
  scrape.join();
  EXPECT_EQ(HttpStatus(scraped), 200);
}

}  // namespace
}  // namespace vmmd::http
