// What vmm-autoscaler costs per VM per sample: an in-process vmmd (fake hypervisor, real gRPC
// over a Unix socket) with N running VMs under RECOMMEND, and the autoscaler's loop ticking over
// them. Each tick = ListVms + per VM GetCPUState and ReportAutoscaleStatus + the decision.
// Prints numbers, asserts nothing (docs/benchmarks.md).
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/common/log.h"
#include "grpcpp/create_channel.h"
#include "tests/bench/bench_util.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/integration/daemon_fixture.h"
#include "vmmd/autoscaler/controller.h"
#include "vmmd/daemon.h"
#include "vmmd/v1/vmm.grpc.pb.h"

ABSL_FLAG(std::string, vms, "1,50,200", "VM counts to measure, comma-separated");
ABSL_FLAG(int, ticks, 10, "ticks measured per VM count (after 2 to warm up)");

namespace vmmd {
namespace {

using bench::CpuMs;
using bench::Median;

int Run() {
  std::vector<int> counts;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_vms), ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(s, &n) || n < 1) {
      std::fprintf(stderr, "--vms: '%s' is not a positive count\n", std::string(s).c_str());
      return 2;
    }
    counts.push_back(n);
  }
  const int ticks = std::max(1, absl::GetFlag(FLAGS_ticks));
  SetMinLogLevel(LogLevel::kWarning);
  std::printf(
      "# vmm-autoscaler loop cost, in-process vmmd on the fake hypervisor, N RUNNING VMs under\n"
      "# RECOMMEND (1 of 8 vCPUs each); median of %d ticks. tick: wall ms of one pass;\n"
      "# loop_cpu: CPU ms of the loop's thread; process_cpu: CPU ms of the whole process\n"
      "# (autoscaler, gRPC on both sides, vmmd answering); per VM: process_cpu / N\n",
      ticks);
  std::printf("%5s %9s %9s %12s %14s\n", "vms", "tick_ms", "loop_cpu", "process_cpu", "per_vm_us");
  for (int n : counts) {
    testing::TempDir dir;
    testing::FakeHypervisor hv;
    DaemonOptions options;
    options.socket_path = dir.path() + "/vmmd.sock";
    options.image_dirs = {dir.path()};
    auto daemon = Daemon::Start(&hv, options);
    if (!daemon.ok()) {
      std::fprintf(stderr, "Daemon: %s\n", daemon.status().ToString().c_str());
      return 1;
    }
    const std::string kernel = testing::WriteFakeKernel(dir.path());
    auto stub = v1::Vmm::NewStub(
        grpc::CreateChannel("unix:" + options.socket_path, grpc::InsecureChannelCredentials()));
    for (int i = 0; i < n; ++i) {
      v1::CreateVmRequest create;
      v1::VmSpec* spec = create.mutable_spec();
      spec->set_name(absl::StrCat("vm-", i));
      spec->set_kernel_path(kernel);
      spec->set_memory_mib(64);
      spec->set_boot_vcpus(1);
      spec->set_max_vcpus(8);
      create.mutable_autoscale()->set_mode(v1::AUTOSCALE_MODE_RECOMMEND);
      v1::Vm vm;
      grpc::ClientContext c1, c2;
      v1::StartVmRequest start;
      start.set_name(spec->name());
      if (!stub->CreateVm(&c1, create, &vm).ok() || !stub->StartVm(&c2, start, &vm).ok()) {
        std::fprintf(stderr, "cannot create and start %s\n", spec->name().c_str());
        return 1;
      }
    }
    autoscaler::ControllerOptions copt;
    copt.interval = absl::Milliseconds(1);
    copt.startup_delay = absl::ZeroDuration();  // decide (and report) on every tick
    autoscaler::AutoscalerMetrics metrics;
    autoscaler::Controller controller(
        grpc::CreateChannel("unix:" + options.socket_path, grpc::InsecureChannelCredentials()),
        copt, &metrics);
    std::vector<double> wall, loop, process;
    for (int i = 0; i < ticks + 2; ++i) {
      absl::SleepFor(absl::Milliseconds(5));
      const absl::Time t0 = absl::Now();
      const double l0 = CpuMs(CLOCK_THREAD_CPUTIME_ID), p0 = CpuMs(CLOCK_PROCESS_CPUTIME_ID);
      controller.Tick();
      if (i < 2) continue;
      wall.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
      loop.push_back(CpuMs(CLOCK_THREAD_CPUTIME_ID) - l0);
      process.push_back(CpuMs(CLOCK_PROCESS_CPUTIME_ID) - p0);
    }
    std::printf("%5d %9.2f %9.2f %12.2f %14.1f\n", n, Median(wall), Median(loop), Median(process),
                Median(process) * 1000 / n);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace vmmd

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return vmmd::Run();
}
