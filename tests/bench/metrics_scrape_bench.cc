// What a /metrics scrape costs vmmd, on the fake hypervisor (so the numbers are vmmd's own
// work: no guest, no KVM): for 1, 50 and 200 VMs of 8 vCPUs (every vCPU with a thread, so each
// scrape reads every thread's schedstat), the time and CPU of collecting the families, of
// encoding them, and of a whole HTTP GET /metrics; the exposition's size; and what scrapes
// running back to back do to a concurrent GetCPUState load. Prints numbers, asserts nothing.
//
// usage: metrics_scrape_bench [--vms=1,50,200] [--scrapes=30] [--load_seconds=3]
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/arch/aarch64/layout.h"
#include "core/common/log.h"
#include "core/hypervisor/hypervisor.h"
#include "core/vcpu/psci.h"
#include "google/protobuf/descriptor.h"
#include "prometheus/text_serializer.h"
#include "tests/bench/bench_util.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/integration/daemon_fixture.h"
#include "tests/support/image_dirs.h"
#include "tests/support/scrape.h"
#include "vmmd/api/api_stats.h"
#include "vmmd/http/server.h"
#include "vmmd/metrics/collector.h"
#include "vmmd/v1/vmm.grpc.pb.h"
#include "vmmd/vmm/vm_manager.h"
#include "vmmd/vmm/vm_spec_validation.h"

ABSL_FLAG(std::string, vms, "1,50,200", "VM counts to measure, comma-separated");
ABSL_FLAG(int, scrapes, 30, "scrapes measured per VM count (after 3 warm-up ones)");
ABSL_FLAG(double, load_seconds, 3, "length of each GetCPUState load phase");

namespace vmmd {
namespace {

constexpr uint32_t kVcpus = 8;
constexpr int kLoadThreads = 2;

using bench::Median;
using bench::ProcessCpuMs;
using bench::ThreadCpuMs;

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct LoadResult {
  double calls_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  int scrapes = 0;
};

// kLoadThreads clients call GetCpuState on every VM in turn for `seconds`; with `scrape`, one
// more thread collects and encodes /metrics back to back meanwhile.
LoadResult GetCpuStateLoad(vmm::VmManager& mgr, const metrics::Collector& collector,
                           const std::vector<std::string>& names, double seconds, bool scrape) {
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> lat(kLoadThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kLoadThreads; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); !stop.load(); ++i) {
        const absl::Time start = absl::Now();
        auto state = mgr.GetCpuState(names[i % names.size()]);
        lat[static_cast<size_t>(t)].push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
        if (!state.ok())
          std::fprintf(stderr, "GetCpuState: %s\n", state.status().ToString().c_str());
      }
    });
  }
  std::atomic<int> scrapes{0};
  std::thread scraper;
  if (scrape) {
    scraper = std::thread([&] {
      while (!stop.load()) {
        std::ostringstream out;
        prometheus::TextSerializer().Serialize(out, collector.Collect());
        scrapes.fetch_add(1);
      }
    });
  }
  absl::SleepFor(absl::Seconds(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  if (scraper.joinable()) scraper.join();
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  return LoadResult{static_cast<double>(all.size()) / seconds, Percentile(all, 0.5),
                    Percentile(all, 0.99), scrapes.load()};
}

int Run() {
  std::vector<int> counts;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_vms), ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(s, &n) || n <= 0) {
      std::fprintf(stderr, "--vms: '%s' is not a positive count\n", std::string(s).c_str());
      return 2;
    }
    counts.push_back(n);
  }
  const int scrapes = std::max(1, absl::GetFlag(FLAGS_scrapes));
  SetMinLogLevel(LogLevel::kWarning);
  testing::TempDir dir;
  const std::string kernel = testing::WriteFakeKernel(dir.path());

  std::printf("# /metrics scrape cost on the fake hypervisor: VMs x %u vCPUs, each with a thread\n",
              kVcpus);
  std::printf(
      "# median of %d scrapes. collect, encode: wall ms and CPU ms of the thread doing it;\n"
      "# http: GET /metrics through vmmd's HTTP server, wall ms and CPU ms of the whole process\n"
      "# (server and this client); gzip: the same with Accept-Encoding: gzip, as Prometheus\n"
      "# asks; cpu = collect_cpu + encode_cpu\n",
      scrapes);
  std::printf("%5s %7s %9s %11s %11s %9s %10s %8s %9s %9s %9s %7s\n", "vms", "series", "bytes",
              "collect_ms", "collect_cpu", "encode_ms", "encode_cpu", "http_ms", "http_cpu",
              "gzip_B", "gzip_cpu", "cpu");
  std::vector<std::string> load_lines;
  for (int n : counts) {
    testing::FakeHypervisor hv;
    auto mgr = std::make_unique<vmm::VmManager>(
        &hv, testing::WithImageDirs<vmm::VmManagerOptions>({dir.path()}));
    api::ApiStats api;
    const google::protobuf::ServiceDescriptor* svc =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            v1::Vmm::service_full_name());
    for (int i = 0; svc != nullptr && i < svc->method_count(); ++i) {
      api.Declare(svc->method(i)->name(), !svc->method(i)->server_streaming());
    }
    std::vector<std::string> names;
    for (int i = 0; i < n; ++i) {
      vmm::VmSpec spec;
      spec.name = absl::StrCat("vm-", i);
      spec.kernel_path = kernel;
      spec.memory_mib = vmm::kMinMemoryMib;
      spec.boot_vcpus = kVcpus;
      spec.max_vcpus = kVcpus;
      if (absl::Status s = mgr->CreateVm(spec); !s.ok()) {
        std::fprintf(stderr, "CreateVm: %s\n", s.ToString().c_str());
        return 1;
      }
      if (absl::Status s = mgr->StartVm(spec.name); !s.ok()) {
        std::fprintf(stderr, "StartVm: %s\n", s.ToString().c_str());
        return 1;
      }
      names.push_back(spec.name);
      // The guest's vCPU 0 starts the 7 others (PSCI CPU_ON), as Linux does at boot.
      std::shared_ptr<testing::FakeVcpuState> v0 = hv.vms().back()->vcpu(0);
      for (uint32_t target = 1; target < kVcpus; ++target) {
        v0->PushExit(
            testing::ScriptedExit{core::HypercallExit{core::psci::kFnCpuOn64, /*smc=*/false},
                                  {{core::XReg(0), core::psci::kFnCpuOn64},
                                   {core::XReg(1), target},
                                   {core::XReg(2), core::aarch64::kRamBase + 0x80000},
                                   {core::XReg(3), 0}}});
      }
    }
    // Every vCPU thread has started (and published its TID).
    for (const std::string& name : names) {
      for (int tries = 0;; ++tries) {
        if (tries == 1000) {
          std::fprintf(stderr, "%s: not every vCPU has a thread after 5 s\n", name.c_str());
          return 1;
        }
        auto cpus = mgr->GetCpuState(name);
        if (cpus.ok() && std::all_of(cpus->begin(), cpus->end(),
                                     [](const core::VcpuInfo& v) { return v.thread_id != 0; })) {
          break;
        }
        absl::SleepFor(absl::Milliseconds(5));
      }
    }
    auto collector = std::make_shared<metrics::Collector>(mgr.get(), &api, metrics::ThisBuild(),
                                                          metrics::HostFacts{});
    std::vector<double> collect_ms, collect_cpu, encode_ms, encode_cpu, http_ms, http_cpu, gzip_cpu;
    size_t gzip_bytes = 0;
    size_t bytes = 0, series = 0;
    for (int i = 0; i < scrapes + 3; ++i) {
      const absl::Time t0 = absl::Now();
      const double c0 = ThreadCpuMs();
      std::vector<prometheus::MetricFamily> families = collector->Collect();
      const absl::Time t1 = absl::Now();
      const double c1 = ThreadCpuMs();
      std::ostringstream out;
      prometheus::TextSerializer().Serialize(out, families);
      const std::string text = out.str();
      const absl::Time t2 = absl::Now();
      const double c2 = ThreadCpuMs();
      if (i < 3) continue;
      collect_ms.push_back(absl::ToDoubleMilliseconds(t1 - t0));
      collect_cpu.push_back(c1 - c0);
      encode_ms.push_back(absl::ToDoubleMilliseconds(t2 - t1));
      encode_cpu.push_back(c2 - c1);
      bytes = text.size();
      series = testing::Samples(text).size();
    }
    auto server = http::MetricsServer::Start("127.0.0.1:0", collector);
    if (!server.ok()) {
      std::fprintf(stderr, "MetricsServer: %s\n", server.status().ToString().c_str());
      return 1;
    }
    for (int i = 0; i < scrapes + 3; ++i) {
      const absl::Time t0 = absl::Now();
      const double p0 = ProcessCpuMs();
      const std::string reply = testing::HttpGet((*server)->port(), "/metrics");
      if (i >= 3) {
        http_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
        http_cpu.push_back(ProcessCpuMs() - p0);
      }
      if (reply.empty()) std::fprintf(stderr, "HTTP GET /metrics got nothing\n");
      // As Prometheus asks: gzip-compressed.
      const double g0 = ProcessCpuMs();
      const std::string gz =
          testing::HttpGet((*server)->port(), "/metrics", "Accept-Encoding: gzip\r\n");
      if (i >= 3) {
        gzip_cpu.push_back(ProcessCpuMs() - g0);
        gzip_bytes = testing::HttpBody(gz).size();
      }
    }
    server->reset();
    std::printf("%5d %7zu %9zu %11.2f %11.2f %9.2f %10.2f %8.2f %9.2f %9zu %9.2f %7.2f\n", n,
                series, bytes, Median(collect_ms), Median(collect_cpu), Median(encode_ms),
                Median(encode_cpu), Median(http_ms), Median(http_cpu), gzip_bytes, Median(gzip_cpu),
                Median(collect_cpu) + Median(encode_cpu));
    std::fflush(stdout);

    const double seconds = absl::GetFlag(FLAGS_load_seconds);
    const LoadResult quiet = GetCpuStateLoad(*mgr, *collector, names, seconds, false);
    const LoadResult busy = GetCpuStateLoad(*mgr, *collector, names, seconds, true);
    load_lines.push_back(
        absl::StrFormat("%5d %13.0f %8.1f %8.1f | %13.0f %8.1f %8.1f %9d (%4.1f/s)", n,
                        quiet.calls_per_s, quiet.p50_us, quiet.p99_us, busy.calls_per_s,
                        busy.p50_us, busy.p99_us, busy.scrapes, busy.scrapes / seconds));
    mgr.reset();  // stops every VM
  }
  std::printf(
      "\n# GetCPUState from %d threads (VMs in turn), without and with back-to-back scrapes\n",
      kLoadThreads);
  std::printf("%5s %13s %8s %8s | %13s %8s %8s %9s\n", "vms", "calls/s", "p50_us", "p99_us",
              "calls/s", "p50_us", "p99_us", "scrapes");
  for (const std::string& l : load_lines) std::printf("%s\n", l.c_str());
  return 0;
}

}  // namespace
}  // namespace vmmd

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return vmmd::Run();
}
