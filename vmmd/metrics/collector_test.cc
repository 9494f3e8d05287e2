// /metrics: exact series for known inputs, the real VM manager on the fake hypervisor (values
// after scripted transitions, counters that never go backwards across a restart, consistency
// while 16 scales run), a scrape over HTTP, and promtool's lint of what vmmd exposes.
#include "vmmd/metrics/collector.h"

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/support/host_tap.h"
#include "tests/support/image_dirs.h"
#include "tests/support/scrape.h"
#include "tests/support/status_matchers.h"
#include "vmmd/http/server.h"

namespace vmmd::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::vmmd::testing::HttpGet;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::Samples;
using ::vmmd::testing::StatusIs;

std::string Text(const std::vector<prometheus::MetricFamily>& f) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, f);
  return out.str();
}

ScrapeInputs KnownInputs() {
  ScrapeInputs in;
  vmm::VmReport r;
  r.info.spec.name = "web";
  r.info.spec.boot_vcpus = 2;
  r.info.spec.max_vcpus = 4;
  r.info.spec.memory_mib = 512;
  r.info.state = vmm::VmState::kRunning;
  r.info.online_vcpus = 3;
  r.info.target_vcpus = 4;
  r.info.restarts = 1;
  r.info.spec.disks.push_back({.path = "/img/root.raw", .read_only = false, .serial = "root"});
  r.info.disks.push_back({.reads = 4,
                          .writes = 5,
                          .read_bytes = 4096,
                          .write_bytes = 512,
                          .flushes = 1,
                          .discards = 0,
                          .errors = 6,
                          .queue_errors = 2});
  r.info.spec.nics.push_back({.tap = "tap0", .mac = ""});
  r.info.nics.push_back({.rx_frames = 7,
                         .rx_bytes = 700,
                         .tx_frames = 8,
                         .tx_bytes = 800,
                         .rx_dropped = 1,
                         .tx_dropped = 0,
                         .queue_errors = 3});
  for (uint32_t i = 0; i < 4; ++i) {
    core::VcpuInfo v;
    v.id = i;
    v.state = i < 3 ? core::VcpuState::kOnline : core::VcpuState::kEnabling;
    v.busy_ns = 1'500'000'000ull * i;
    v.delay_ns = 250'000'000;
    r.vcpus.push_back(v);
  }
  r.stats.vcpus.cpu_on.granted = 3;
  r.stats.vcpus.cpu_on.denied = 2;
  r.stats.exits = 100;
  r.stats.mmio_exits = 70;
  r.stats.hypercall_exits = 20;
  r.stats.transitions_to(vmm::VmState::kRunning) = 2;
  r.stats.requests(vmm::ScaleDirection::kAdd, vmm::ScaleResultKind::kDeadlineExceeded) = 1;
  in.vms.vms.push_back(r);
  // The manager's totals: what "web" counted plus a VM deleted before.
  in.vms.all_vcpus.phase(core::HotplugPhase::kTaken).Observe(absl::Milliseconds(3));
  in.vms.all_vcpus.phase(core::HotplugPhase::kTaken).Observe(absl::Milliseconds(40));
  in.vms.all_vcpus.phase(core::HotplugPhase::kParked).Observe(absl::Seconds(45));
  in.api.calls[{"GetVm", "ok"}] = 5;
  in.api.calls[{"GetVm", "not_found"}] = 2;
  in.api.latency.emplace("GetVm", DurationHistogram(LatencyBoundsSeconds()));
  in.api.latency.at("GetVm").Observe(absl::Milliseconds(2));
  in.api.open_streams = 1;
  in.api.dropped_events = 7;
  ProcessStats p;
  p.cpu_seconds = 1.25;
  p.threads = 9;
  in.process = p;
  in.build = BuildInfo{"1.2.3", "arm64"};
  in.host.wfi_trapped = false;
  return in;
}

TEST(CollectorTest, ExactSeriesForKnownInputs) {
  const std::map<std::string, double> s = Samples(Text(BuildFamilies(KnownInputs())));
  const std::map<std::string, double> want = {
      {R"(vmmd_build_info{arch="arm64",version="1.2.3"})", 1},
      {R"(vmmd_host_wfi_trapped)", 0},
      {R"(vmmd_vms{state="running"})", 1},
      {R"(vmmd_vms{state="failed"})", 0},
      {R"(vmmd_vm_state{vm="web",state="running"})", 1},
      {R"(vmmd_vm_state{vm="web",state="stopped"})", 0},
      {R"(vmmd_vm_vcpus{vm="web",state="online"})", 3},
      {R"(vmmd_vm_vcpus{vm="web",state="enabling"})", 1},
      {R"(vmmd_vm_vcpus{vm="web",state="parked"})", 0},
      {R"(vmmd_vm_boot_vcpus{vm="web"})", 2},
      {R"(vmmd_vm_max_vcpus{vm="web"})", 4},
      {R"(vmmd_vm_target_vcpus{vm="web"})", 4},
      {R"(vmmd_vm_online_vcpus{vm="web"})", 3},
      {R"(vmmd_vm_memory_bytes{vm="web"})", 512.0 * 1024 * 1024},
      {R"(vmmd_vm_transitions_total{vm="web",to="running"})", 2},
      {R"(vmmd_vm_restarts_total{vm="web"})", 1},
      {R"(vmmd_vm_exits_total{vm="web",reason="mmio"})", 70},
      {R"(vmmd_vm_exits_total{vm="web",reason="hypercall"})", 20},
      {R"(vmmd_vm_exits_total{vm="web",reason="other"})", 10},
      {R"(vmmd_disk_requests_total{vm="web",disk="root",op="read"})", 4},
      {R"(vmmd_disk_requests_total{vm="web",disk="root",op="flush"})", 1},
      {R"(vmmd_disk_bytes_total{vm="web",disk="root",op="write"})", 512},
      {R"(vmmd_disk_failed_requests_total{vm="web",disk="root"})", 6},
      {R"(vmmd_nic_frames_total{vm="web",nic="tap0",direction="tx"})", 8},
      {R"(vmmd_nic_bytes_total{vm="web",nic="tap0",direction="rx"})", 700},
      {R"(vmmd_nic_dropped_frames_total{vm="web",nic="tap0",direction="rx"})", 1},
      {R"(vmmd_virtio_queue_errors_total{vm="web",device="disk:root"})", 2},
      {R"(vmmd_virtio_queue_errors_total{vm="web",device="nic:tap0"})", 3},
      {R"(vmmd_vcpu_busy_seconds_total{vm="web",vcpu="2"})", 3.0},
      {R"(vmmd_vcpu_delay_seconds_total{vm="web",vcpu="0"})", 0.25},
      {R"(vmmd_vcpu_hotplug_phase_seconds_count{phase="taken"})", 2},
      {R"(vmmd_vcpu_hotplug_phase_seconds_sum{phase="taken"})", 0.043},
      {R"(vmmd_vcpu_hotplug_phase_seconds_bucket{phase="taken",le="0.0025"})", 0},
      {R"(vmmd_vcpu_hotplug_phase_seconds_bucket{phase="taken",le="0.005"})", 1},
      {R"(vmmd_vcpu_hotplug_phase_seconds_bucket{phase="taken",le="0.05"})", 2},
      {R"(vmmd_vcpu_hotplug_phase_seconds_bucket{phase="taken",le="+Inf"})", 2},
      {R"(vmmd_vcpu_hotplug_phase_seconds_count{phase="online"})", 0},
      {R"(vmmd_vcpu_hotplug_phase_seconds_count{phase="parked"})", 1},
      {R"(vmmd_vcpu_hotplug_phase_seconds_bucket{phase="parked",le="30"})", 0},
      {R"(vmmd_vcpu_hotplug_phase_seconds_bucket{phase="parked",le="+Inf"})", 1},
      {R"(vmmd_vcpu_scale_requests_total{vm="web",direction="add",result="deadline_exceeded"})", 1},
      {R"(vmmd_vcpu_scale_requests_total{vm="web",direction="remove",result="ok"})", 0},
      {R"(vmmd_guest_cpu_on_total{vm="web",verdict="granted"})", 3},
      {R"(vmmd_guest_cpu_on_total{vm="web",verdict="denied"})", 2},
      {R"(vmmd_api_requests_total{method="GetVm",code="not_found"})", 2},
      {R"(vmmd_api_request_duration_seconds_count{method="GetVm"})", 1},
      {R"(vmmd_api_request_duration_seconds_bucket{method="GetVm",le="0.0025"})", 1},
      {R"(vmmd_api_watch_streams)", 1},
      {R"(vmmd_api_watch_events_dropped_total)", 7},
      {R"(process_cpu_seconds_total)", 1.25},
      {R"(process_threads)", 9},
  };
  for (const auto& [series, value] : want) {
    auto it = s.find(series);
    ASSERT_NE(it, s.end()) << series;
    EXPECT_DOUBLE_EQ(it->second, value) << series;
  }
  // No label that Prometheus or Kubernetes attaches itself.
  for (const auto& [series, value] : s) {
    for (const char* label : {"instance=", "job=", "node=", "namespace=", "pod="}) {
      EXPECT_THAT(series, Not(HasSubstr(label))) << series;
    }
  }
}

// A minimal arm64 Image (header + padding) and a stand-in firmware file.
class LiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmmd-metrics-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::vector<char> image(8192, 0);
    image[16 + 2] = 0x20;  // image_size 2 MiB
    image[24] = 0x2;       // LE, 4 KiB pages
    image[0x38] = 'A';
    image[0x39] = 'R';
    image[0x3a] = 'M';
    image[0x3b] = 0x64;
    std::ofstream(dir_ + "/Image", std::ios::binary).write(image.data(), image.size());
    std::ofstream(dir_ + "/QEMU_EFI.fd", std::ios::binary) << std::string(4096, '\xAA');
    std::ofstream(dir_ + "/disk.img", std::ios::binary) << std::string(1 << 16, '\0');
  }
  void TearDown() override {
    mgr_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }
  vmm::VmSpec Spec(const std::string& name, bool firmware) {
    vmm::VmSpec s;
    s.name = name;
    s.kernel_path = dir_ + "/Image";
    if (firmware) s.firmware_path = dir_ + "/QEMU_EFI.fd";
    s.memory_mib = 128;
    s.boot_vcpus = 2;
    s.max_vcpus = 6;
    return s;
  }
  std::map<std::string, double> Scrape() { return Samples(Text(collector_.Collect())); }

  ::vmmd::testing::FakeHypervisor hv_;
  // The test files live in a directory under /tmp: /tmp is the image directory.
  std::unique_ptr<vmm::VmManager> mgr_ = std::make_unique<vmm::VmManager>(
      &hv_, ::vmmd::testing::WithImageDirs<vmm::VmManagerOptions>({"/tmp"}));
  api::ApiStats api_;
  Collector collector_{mgr_.get(), &api_, ThisBuild(), HostFacts{}};
  std::string dir_;
};

TEST_F(LiveTest, SeriesFollowTheVmsAndCountersSurviveARestart) {
  ASSERT_THAT(mgr_->CreateVm(Spec("a", /*firmware=*/true)), IsOk());
  auto s = Scrape();
  EXPECT_EQ(s[R"(vmmd_host_wfi_trapped)"], 1);
  ASSERT_EQ(s.count("vmmd_metrics_collect_duration_seconds"), 1u);
  EXPECT_GT(s["vmmd_metrics_collect_duration_seconds"], 0);
  EXPECT_LT(s["vmmd_metrics_collect_duration_seconds"], 1);
  EXPECT_EQ(s["vmmd_metrics_collect_errors_total"], 0);
  EXPECT_EQ(s[R"(vmmd_vms{state="created"})"], 1);
  EXPECT_EQ(s[R"(vmmd_vm_vcpus{vm="a",state="parked"})"], 4);
  EXPECT_EQ(s[R"(vmmd_vm_vcpus{vm="a",state="offline"})"], 2);
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  ASSERT_TRUE(hv_.vms().back()->vcpu(0)->WaitForRunCount(1, absl::Seconds(10)));
  s = Scrape();
  EXPECT_EQ(s[R"(vmmd_vms{state="running"})"], 1);
  EXPECT_EQ(s[R"(vmmd_vm_vcpus{vm="a",state="online"})"], 1);  // vCPU 0; 1 waits for CPU_ON
  EXPECT_EQ(s[R"(vmmd_vm_transitions_total{vm="a",to="running"})"], 1);
  // A hot-add the guest has not taken yet: the target moves, the vCPU is ENABLING.
  auto scaled = mgr_->ScaleVcpus("a", 3, core::ScaleWait::kNone, absl::Now());
  ASSERT_THAT(scaled, IsOk());
  s = Scrape();
  EXPECT_EQ(s[R"(vmmd_vm_target_vcpus{vm="a"})"], 3);
  EXPECT_EQ(s[R"(vmmd_vm_vcpus{vm="a",state="enabling"})"], 1);
  EXPECT_EQ(s[R"(vmmd_vcpu_scale_requests_total{vm="a",direction="add",result="ok"})"], 1);
  const double busy0 = s[R"(vmmd_vcpu_busy_seconds_total{vm="a",vcpu="0"})"];
  EXPECT_GT(busy0, 0);
  // Stop and start: every counter keeps going from where it was.
  const std::map<std::string, double> before = s;
  ASSERT_THAT(mgr_->StopVm("a"), IsOk());
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  s = Scrape();
  for (const auto& [series, value] : before) {
    if (series.find("_total") == std::string::npos && series.find("_count") == std::string::npos) {
      continue;
    }
    if (series.rfind("vmmd_api", 0) == 0 || series.rfind("process_", 0) == 0) continue;
    ASSERT_TRUE(s.count(series)) << series;
    EXPECT_GE(s[series], value) << series;
  }
  EXPECT_EQ(s[R"(vmmd_vm_target_vcpus{vm="a"})"], 3);  // a start boots at the scaled size
  EXPECT_EQ(s[R"(vmmd_vm_transitions_total{vm="a",to="stopped"})"], 1);
  // Deleting a VM removes its series; the same name starts from zero (a new VM).
  ASSERT_THAT(mgr_->DeleteVm("a"), IsOk());
  s = Scrape();
  EXPECT_EQ(s.count(R"(vmmd_vm_target_vcpus{vm="a"})"), 0u);
  ASSERT_THAT(mgr_->CreateVm(Spec("a", true)), IsOk());
  s = Scrape();
  EXPECT_EQ(s[R"(vmmd_vm_transitions_total{vm="a",to="running"})"], 0);
}

// Scrapes while 16 clients scale the same VM: every scrape is whole and self-consistent.
TEST_F(LiveTest, ScrapesStayConsistentUnderConcurrentScales) {
  ASSERT_THAT(mgr_->CreateVm(Spec("a", true)), IsOk());
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&, c] {
      for (uint32_t i = 0; !stop.load(); ++i) {
        (void)mgr_->ScaleVcpus("a", 2 + (i + c) % 5, core::ScaleWait::kNone, absl::Now());
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    auto s = Scrape();
    double vcpus = 0;
    for (const char* st : {"parked", "enabling", "enabled", "online", "offline", "removing"}) {
      vcpus += s[absl::StrCat(R"(vmmd_vm_vcpus{vm="a",state=")", st, R"("})")];
    }
    EXPECT_EQ(vcpus, 6);
    const double target = s[R"(vmmd_vm_target_vcpus{vm="a"})"];
    EXPECT_GE(target, 2);
    EXPECT_LE(target, 6);
  }
  stop = true;
  for (auto& t : clients) t.join();
  double requests = 0;
  for (const auto& [series, value] : Scrape()) {
    if (series.rfind("vmmd_vcpu_scale_requests_total", 0) == 0) requests += value;
  }
  EXPECT_GT(requests, 16);
}

TEST_F(LiveTest, ServesOverHttpAndRefusesABusyPort) {
  ASSERT_THAT(mgr_->CreateVm(Spec("a", false)), IsOk());
  auto collector = std::make_shared<Collector>(mgr_.get(), &api_, ThisBuild(), HostFacts{});
  absl::StatusOr<std::unique_ptr<http::MetricsServer>> server =
      http::MetricsServer::Start("127.0.0.1:0", collector);
  ASSERT_THAT(server, IsOk());
  const std::string reply = HttpGet((*server)->port(), "/metrics");
  EXPECT_THAT(reply, HasSubstr("200 OK"));
  EXPECT_THAT(reply, HasSubstr("Content-Type: text/plain"));
  EXPECT_THAT(reply, HasSubstr(R"(vmmd_vms{state="created"} 1)"));
  // The port is taken now.
  EXPECT_THAT(http::MetricsServer::Start(absl::StrCat("127.0.0.1:", (*server)->port()), collector),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("in use")));
  EXPECT_THAT(http::MetricsServer::Start("9477", collector),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("HOST:PORT")));
  EXPECT_THAT(http::MetricsServer::Start("127.0.0.1:0,0.0.0.0:0", collector),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("HOST:PORT")));
  EXPECT_THAT(http::MetricsServer::Start("127.0.0.1:9477s", collector),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("HOST:PORT")));
  EXPECT_THAT(http::MetricsServer::Start("[::1]:0", collector),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("IPv6")));
  EXPECT_THAT(http::MetricsServer::Start("127.0.0.1:99999", collector),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// docs/metrics.md's table of families, as {name -> "type: label,label"}.
std::map<std::string, std::string> DocumentedFamilies() {
  std::ifstream in(VMMD_METRICS_DOC);
  EXPECT_TRUE(in) << VMMD_METRICS_DOC;
  std::map<std::string, std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("| `", 0) != 0) continue;
    std::vector<std::string> cols = absl::StrSplit(line, " | ");
    if (cols.size() < 4) continue;
    std::string labels;
    if (cols[2] != "—") {
      for (absl::string_view l : absl::StrSplit(cols[2], ", ")) {
        absl::StrAppend(&labels, labels.empty() ? "" : ",",
                        absl::StripPrefix(absl::StripSuffix(l, "`"), "`"));
      }
    }
    const std::string name(absl::StripSuffix(absl::StripPrefix(cols[0], "| `"), "`"));
    out[name] = absl::StrCat(cols[1], ": ", labels);
  }
  return out;
}

std::string TypeName(prometheus::MetricType t) {
  switch (t) {
    case prometheus::MetricType::Counter:
      return "counter";
    case prometheus::MetricType::Gauge:
      return "gauge";
    case prometheus::MetricType::Histogram:
      return "histogram";
    default:
      return "other";
  }
}

// The reference is exact: every family vmmd exports is in it, with its type and label names,
// and it lists nothing vmmd does not export.
TEST_F(LiveTest, TheMetricsReferenceListsExactlyWhatIsExported) {
  // Every family has a series only with a disk and a NIC (a real TAP on this host).
  if (!vmmd::testing::CanMakeHostTaps()) GTEST_SKIP() << "needs root and /dev/net/tun";
  vmmd::testing::HostTap tap("vm-met");
  ASSERT_TRUE(tap.made());
  vmm::VmSpec spec = Spec("a", true);
  spec.disks.push_back({.path = dir_ + "/disk.img", .read_only = false, .serial = ""});
  spec.nics.push_back({.tap = tap.name(), .mac = ""});
  ASSERT_THAT(mgr_->CreateVm(spec), IsOk());
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  api_.Declare("GetVm", /*unary=*/true);
  std::map<std::string, std::string> exported;
  for (const prometheus::MetricFamily& f : collector_.Collect()) {
    ASSERT_FALSE(f.metric.empty()) << f.name << " has no series to compare";
    std::vector<std::string> names;
    for (const auto& l : f.metric.front().label) names.push_back(l.name);
    exported[f.name] = absl::StrCat(TypeName(f.type), ": ", absl::StrJoin(names, ","));
  }
  EXPECT_EQ(exported, DocumentedFamilies());
  // The TAP can go only once nothing is attached to it.
  EXPECT_THAT(mgr_->DeleteVm("a"), IsOk());
}

// promtool, Prometheus' own linter, finds nothing to say about what vmmd exposes.
TEST_F(LiveTest, PromtoolChecksTheExpositionClean) {
  ASSERT_THAT(mgr_->CreateVm(Spec("a", true)), IsOk());
  ASSERT_THAT(mgr_->StartVm("a"), IsOk());
  ASSERT_THAT(mgr_->ScaleVcpus("a", 3, core::ScaleWait::kNone, absl::Now()), IsOk());
  api_.Record("GetVm", absl::OkStatus(), absl::Milliseconds(1));
  const std::string path = dir_ + "/scrape.txt";
  std::ofstream(path) << Text(collector_.Collect());
  const std::string cmd = absl::StrCat(VMMD_PROMTOOL_PATH, " check metrics < ", path, " 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << out;
  EXPECT_EQ(out, "") << out;
}

}  // namespace
}  // namespace vmmd::metrics
