// The daemon's HTTP endpoint: served next to the API when --metrics_address is set — /metrics
// counting what clients do through the real gRPC server, /healthz, and /readyz following the
// daemon (ready once up, not while shutting down, not without vCPUs); an address it cannot bind
// stops the start cleanly.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/daemon_fixture.h"
#include "tests/support/scrape.h"
#include "tests/support/status_matchers.h"

namespace vmmd::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class MetricsDaemonTest : public DaemonTest {
 protected:
  MetricsDaemonTest() { metrics_address_ = "127.0.0.1:0"; }

  std::map<std::string, double> Scrape() {
    const std::string reply = HttpGet(daemon_->metrics_port(), "/metrics");
    EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK"));
    return Samples(HttpBody(reply));
  }
};

TEST_F(MetricsDaemonTest, CountsWhatClientsDoAndWhatVmsAre) {
  ASSERT_NE(daemon_->metrics_port(), 0);
  ASSERT_TRUE(Create("web").ok());
  {
    grpc::ClientContext context;
    v1::GetVmRequest request;
    request.set_name("nope");
    v1::Vm vm;
    EXPECT_EQ(stub_->GetVm(&context, request, &vm).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    v1::StartVmRequest request;
    request.set_name("web");
    v1::Vm vm;
    ASSERT_TRUE(stub_->StartVm(&context, request, &vm).ok());
  }
  std::map<std::string, double> s = Scrape();
  EXPECT_EQ(s[R"(vmmd_api_requests_total{method="CreateVm",code="ok"})"], 1);
  EXPECT_EQ(s[R"(vmmd_api_requests_total{method="GetVm",code="not_found"})"], 1);
  EXPECT_EQ(s[R"(vmmd_api_requests_total{method="StartVm",code="ok"})"], 1);
  EXPECT_EQ(s[R"(vmmd_api_request_duration_seconds_count{method="StartVm"})"], 1);
  // Methods nobody called yet have their series already (zero); a stream is not timed.
  ASSERT_EQ(s.count(R"(vmmd_api_requests_total{method="WatchEvents",code="ok"})"), 1u);
  EXPECT_EQ(s[R"(vmmd_api_requests_total{method="WatchEvents",code="ok"})"], 0);
  ASSERT_EQ(s.count(R"(vmmd_api_request_duration_seconds_count{method="DeleteVm"})"), 1u);
  EXPECT_EQ(s[R"(vmmd_api_request_duration_seconds_count{method="DeleteVm"})"], 0);
  EXPECT_EQ(s.count(R"(vmmd_api_request_duration_seconds_count{method="WatchEvents"})"), 0u);
  EXPECT_EQ(s[R"(vmmd_vms{state="running"})"], 1);
  EXPECT_EQ(s[R"(vmmd_vm_boot_vcpus{vm="web"})"], 2);
  EXPECT_EQ(s[R"(vmmd_vm_max_vcpus{vm="web"})"], 4);
  EXPECT_EQ(s[R"(vmmd_vm_vcpus{vm="web",state="parked"})"], 2);
  EXPECT_EQ(s[R"(vmmd_vm_memory_bytes{vm="web"})"], 128.0 * 1024 * 1024);
  EXPECT_EQ(s[R"(vmmd_host_wfi_trapped)"], 1);
  EXPECT_EQ(s.count(R"(process_threads)"), 1u);

  // Shutdown closes /metrics with the API.
  const int port = daemon_->metrics_port();
  daemon_->Shutdown();
  EXPECT_EQ(HttpGet(port, "/metrics"), "");
}

// A daemon whose shutdown waits 5 s for each running guest to power off after its ACPI power
// button: the fake guests never do, so a running VM holds Shutdown that long.
class MetricsShutdownTest : public MetricsDaemonTest {
 protected:
  void Configure(DaemonOptions* options) override { options->shutdown_timeout = absl::Seconds(5); }
};

// /healthz and /readyz next to /metrics: ready once the daemon is up, "shutting down" (503)
// from the start of Shutdown while HTTP still answers (here: while a running ACPI guest is
// given its 5 s to power off), closed with the API.
TEST_F(MetricsShutdownTest, HealthAndReadinessFollowTheDaemon) {
  const int port = daemon_->metrics_port();
  ASSERT_NE(port, 0);
  const std::string healthy = HttpGet(port, "/healthz");
  EXPECT_EQ(HttpStatus(healthy), 200);
  EXPECT_EQ(HttpBody(healthy), "ok\n");
  EXPECT_EQ(HttpHeader(healthy, "Cache-Control"), "no-store");
  EXPECT_EQ(HttpHeader(healthy, "Content-Type"), "text/plain; charset=utf-8");
  EXPECT_THAT(daemon_->Readiness(), IsOk());
  EXPECT_EQ(HttpGet(port, "/readyz"),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n"
            "Content-Length: 6\r\n"
            "\r\n"
            "ready\n");
  EXPECT_EQ(HttpStatus(HttpRequest(port, "POST", "/readyz", "Content-Length: 0\r\n")), 405);
  EXPECT_EQ(HttpStatus(HttpGet(port, "/livez")), 404);
  // /metrics, gzip-compressed as Prometheus asks.
  ASSERT_TRUE(Create("web").ok());
  const std::string gzip = HttpGet(port, "/metrics", "Accept-Encoding: gzip\r\n");
  EXPECT_EQ(HttpStatus(gzip), 200);
  EXPECT_EQ(HttpHeader(gzip, "Content-Encoding"), "gzip");
  EXPECT_EQ(Samples(Gunzip(HttpBody(gzip)))[R"(vmmd_vms{state="created"})"], 1);

  // A running guest with a power button (ACPI direct boot) holds the shutdown: the daemon
  // presses the button and waits for it before the API and HTTP close.
  {
    grpc::ClientContext context;
    v1::CreateVmRequest request;
    *request.mutable_spec() = Spec("acpi", 1, 2);
    request.mutable_spec()->set_boot_mode(v1::BOOT_MODE_ACPI_DIRECT);
    v1::Vm vm;
    ASSERT_TRUE(stub_->CreateVm(&context, request, &vm).ok());
  }
  {
    grpc::ClientContext context;
    v1::StartVmRequest request;
    request.set_name("acpi");
    v1::Vm vm;
    ASSERT_TRUE(stub_->StartVm(&context, request, &vm).ok());
  }
  std::thread shutdown([&] { daemon_->Shutdown(); });
  std::string not_ready;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (HttpStatus(not_ready) != 503 && absl::Now() < deadline) {
    not_ready = HttpGet(port, "/readyz");
  }
  EXPECT_EQ(HttpStatus(not_ready), 503) << not_ready;
  EXPECT_EQ(HttpBody(not_ready), "not ready: shutting down\n");
  EXPECT_EQ(HttpHeader(not_ready, "Cache-Control"), "no-store");
  EXPECT_THAT(daemon_->Readiness(), StatusIs(absl::StatusCode::kUnavailable, "shutting down"));
  EXPECT_EQ(HttpBody(HttpGet(port, "/healthz")), "ok\n");  // alive while it shuts down
  shutdown.join();
  EXPECT_EQ(HttpGet(port, "/healthz"), "");
  EXPECT_EQ(HttpGet(port, "/readyz"), "");
}

class MetricsStartTest : public ::testing::Test {
 protected:
  DaemonOptions Options(const std::string& metrics_address) {
    DaemonOptions options;
    options.socket_path = tmp_.path() + "/vmmd.sock";
    options.metrics_address = metrics_address;
    return options;
  }
  TempDir tmp_;
  FakeHypervisor hv_;
};

TEST_F(MetricsStartTest, AnAddressItCannotBindFailsTheStartAndFreesTheSocket) {
  // Another vmmd (on its own socket) holds a metrics port.
  TempDir other_dir;
  DaemonOptions holder = Options("127.0.0.1:0");
  holder.socket_path = other_dir.path() + "/holder.sock";
  absl::StatusOr<std::unique_ptr<Daemon>> busy = Daemon::Start(&hv_, holder);
  ASSERT_THAT(busy, IsOk());
  const std::string in_use = absl::StrCat("127.0.0.1:", (*busy)->metrics_port());
  EXPECT_THAT(Daemon::Start(&hv_, Options(in_use)),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(StartsWith("--metrics_address: "), HasSubstr("in use"))));
  EXPECT_THAT(Daemon::Start(&hv_, Options("9477")),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("--metrics_address: ")));
  // Neither failed start kept the API socket: a daemon with a good address starts on it.
  EXPECT_THAT(Daemon::Start(&hv_, Options("127.0.0.1:0")), IsOk());
}

TEST_F(MetricsStartTest, NotReadyWhenTheHypervisorOffersNoVcpus) {
  core::HostCapabilities caps = FakeHypervisor::DefaultCapabilities();
  caps.max_vcpus = 0;
  FakeHypervisor no_vcpus(caps);
  absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(&no_vcpus, Options("127.0.0.1:0"));
  ASSERT_THAT(daemon, IsOk());
  const std::string reply = HttpGet((*daemon)->metrics_port(), "/readyz");
  EXPECT_EQ(HttpStatus(reply), 503) << reply;
  EXPECT_EQ(HttpBody(reply), "not ready: the hypervisor offers no vCPUs (its limit per VM is 0)\n");
  EXPECT_EQ(HttpBody(HttpGet((*daemon)->metrics_port(), "/healthz")), "ok\n");
}

TEST_F(MetricsStartTest, WithoutAnAddressThereIsNoMetricsPort) {
  absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(&hv_, Options(""));
  ASSERT_THAT(daemon, IsOk());
  EXPECT_EQ((*daemon)->metrics_port(), 0);
}

}  // namespace
}  // namespace vmmd::testing
