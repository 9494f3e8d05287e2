// The daemon's /metrics: served next to the API when --metrics_address is set, counting what
// clients do through the real gRPC server; an address it cannot bind stops the start cleanly.
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
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

TEST_F(MetricsStartTest, WithoutAnAddressThereIsNoMetricsPort) {
  absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(&hv_, Options(""));
  ASSERT_THAT(daemon, IsOk());
  EXPECT_EQ((*daemon)->metrics_port(), 0);
}

}  // namespace
}  // namespace vmmd::testing
