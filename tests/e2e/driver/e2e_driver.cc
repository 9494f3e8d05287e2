// e2e-driver: a long-lived vmmd.v1 client for the end-to-end scenarios that make hundreds of
// calls (vmmctl pays its start-up, ~0.4 s under emulation, on every call). Runs in L1.
//
//   e2e-driver soak SOCKET VM CALLS CALLERS
//     CALLS random ScaleVCPUs (target boot..max, wait none/enabled/online, 20 s timeout) from
//     CALLERS threads with a channel each. Prints "@@SOAK calls=N <CODE>=<count>..." and, for
//     an answer outside OK/ABORTED/UNAVAILABLE/DEADLINE_EXCEEDED, "@@SOAK-UNEXPECTED <code>
//     <message>". Exit 0 when every call answered within its deadline, else 1.
//   e2e-driver cycles SOCKET VMMD_PID N KERNEL INITRD CMDLINE
//     N create/start/delete cycles of a 64 MiB, 1-of-2-vCPU direct-boot VM; prints vmmd's
//     threads, open fds and RSS (from /proc/VMMD_PID) after half of the cycles and at the end:
//     "@@CYCLES n=N threads=A->B fds=A->B rss_kib=A->B". Exit 1 if a call failed.
//   e2e-driver rtt SOCKET VM N
//     N GetCPUState calls, one after the other, on one channel (connected by one call first,
//     not timed): "@@RTT n=N median_us=.. min_us=.. max_us=.." (steady clock around each call).
//     Exit 1 if a call failed.
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "vmmd/v1/vmm.grpc.pb.h"

namespace {

namespace v1 = vmmd::v1;

std::unique_ptr<v1::Vmm::Stub> Connect(const std::string& socket) {
  return v1::Vmm::NewStub(
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
}

void SetDeadline(grpc::ClientContext& ctx, int seconds) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK:
      return "OK";
    case grpc::CANCELLED:
      return "CANCELLED";
    case grpc::UNKNOWN:
      return "UNKNOWN";
    case grpc::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::ABORTED:
      return "ABORTED";
    case grpc::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::INTERNAL:
      return "INTERNAL";
    case grpc::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "OTHER";
  }
}

int Soak(const std::string& socket, const std::string& vm, int calls, int callers) {
  v1::Vm info;
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx, 30);
    v1::GetVmRequest req;
    req.set_name(vm);
    const grpc::Status s = Connect(socket)->GetVm(&ctx, req, &info);
    if (!s.ok()) {
      std::printf("@@SOAK-ERROR GetVm %s: %s\n", CodeName(s.error_code()),
                  s.error_message().c_str());
      return 1;
    }
  }
  const uint32_t low = info.spec().boot_vcpus();
  const uint32_t high = info.spec().max_vcpus();
  std::mutex mu;
  std::map<std::string, int> codes;
  std::vector<std::string> unexpected;
  std::atomic<bool> overran{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c) {
    const int mine = calls / callers + (c < calls % callers ? 1 : 0);
    threads.emplace_back([&, c, mine] {
      std::mt19937 rng(static_cast<unsigned>(c * 7919 + 17));
      std::unique_ptr<v1::Vmm::Stub> stub = Connect(socket);
      for (int i = 0; i < mine; ++i) {
        v1::ScaleVCPUsRequest req;
        req.set_name(vm);
        req.set_target_vcpus(low + static_cast<uint32_t>(rng() % (high - low + 1)));
        req.set_wait(static_cast<v1::ScaleWait>(1 + static_cast<int>(rng() % 3)));
        req.mutable_timeout()->set_seconds(20);
        grpc::ClientContext ctx;
        SetDeadline(ctx, 40);  // the server's 20 s wait plus a margin: past it, vmmd hung
        v1::ScaleVCPUsResponse resp;
        const grpc::Status s = stub->ScaleVCPUs(&ctx, req, &resp);
        std::lock_guard<std::mutex> lock(mu);
        const std::string name = CodeName(s.error_code());
        ++codes[name];
        if (s.error_code() == grpc::DEADLINE_EXCEEDED && s.error_message() == "Deadline Exceeded") {
          overran = true;  // the client's own deadline, not vmmd's answer
        }
        if (name != "OK" && name != "ABORTED" && name != "UNAVAILABLE" &&
            name != "DEADLINE_EXCEEDED") {
          unexpected.push_back(name + " " + s.error_message().substr(0, 300));
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::string summary;
  int total = 0;
  for (const auto& [name, n] : codes) {
    summary += " " + name + "=" + std::to_string(n);
    total += n;
  }
  std::printf("@@SOAK calls=%d%s\n", total, summary.c_str());
  for (const std::string& u : unexpected) std::printf("@@SOAK-UNEXPECTED %s\n", u.c_str());
  if (overran)
    std::printf("@@SOAK-UNEXPECTED a call was still unanswered at its 40 s client deadline\n");
  return unexpected.empty() && !overran && total == calls ? 0 : 1;
}

struct Usage {
  long threads = 0;
  long fds = 0;
  long rss_kib = 0;
};

long CountDir(const std::string& path) {
  long n = 0;
  if (DIR* d = opendir(path.c_str())) {
    while (const dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
  }
  return n;
}

Usage Measure(int pid) {
  Usage u;
  const std::string proc = "/proc/" + std::to_string(pid);
  u.threads = CountDir(proc + "/task");
  u.fds = CountDir(proc + "/fd");
  std::ifstream status(proc + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) u.rss_kib = std::atol(line.c_str() + 6);
  }
  return u;
}

bool Check(const char* what, const std::string& vm, const grpc::Status& s) {
  if (s.ok()) return true;
  std::printf("@@CYCLES-ERROR %s %s: %s %s\n", what, vm.c_str(), CodeName(s.error_code()),
              s.error_message().c_str());
  return false;
}

int Cycles(const std::string& socket, int pid, int n, const std::string& kernel,
           const std::string& initrd, const std::string& cmdline) {
  std::unique_ptr<v1::Vmm::Stub> stub = Connect(socket);
  const int warmup = n / 2;
  Usage first;
  for (int i = 0; i < n; ++i) {
    const std::string name = "cycle" + std::to_string(i);
    {
      grpc::ClientContext ctx;
      SetDeadline(ctx, 30);
      v1::CreateVmRequest req;
      v1::VmSpec* spec = req.mutable_spec();
      spec->set_name(name);
      spec->set_kernel_path(kernel);
      spec->set_initrd_path(initrd);
      spec->set_cmdline(cmdline);
      spec->set_memory_mib(64);
      spec->set_boot_vcpus(1);
      spec->set_max_vcpus(2);
      v1::Vm out;
      if (!Check("CreateVm", name, stub->CreateVm(&ctx, req, &out))) return 1;
    }
    {
      grpc::ClientContext ctx;
      SetDeadline(ctx, 30);
      v1::StartVmRequest req;
      req.set_name(name);
      v1::Vm out;
      if (!Check("StartVm", name, stub->StartVm(&ctx, req, &out))) return 1;
    }
    {
      grpc::ClientContext ctx;
      SetDeadline(ctx, 60);
      v1::DeleteVmRequest req;
      req.set_name(name);
      v1::DeleteVmResponse out;
      if (!Check("DeleteVm", name, stub->DeleteVm(&ctx, req, &out))) return 1;
    }
    if (i + 1 == warmup) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      first = Measure(pid);
    }
    if ((i + 1) % 50 == 0) {
      const Usage u = Measure(pid);
      std::printf("  %d cycles: threads=%ld fds=%ld rss_kib=%ld\n", i + 1, u.threads, u.fds,
                  u.rss_kib);
      std::fflush(stdout);
    }
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const Usage last = Measure(pid);
  std::printf("@@CYCLES n=%d warmup=%d threads=%ld->%ld fds=%ld->%ld rss_kib=%ld->%ld\n", n, warmup,
              first.threads, last.threads, first.fds, last.fds, first.rss_kib, last.rss_kib);
  return 0;
}

}  // namespace

int Rtt(const std::string& socket, const std::string& vm, int n) {
  std::unique_ptr<v1::Vmm::Stub> stub = Connect(socket);
  v1::GetCPUStateRequest request;
  request.set_name(vm);
  std::vector<int64_t> us;
  for (int i = 0; i <= n; ++i) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, 30);
    v1::GetCPUStateResponse response;
    const auto t0 = std::chrono::steady_clock::now();
    const grpc::Status st = stub->GetCPUState(&ctx, request, &response);
    const auto t1 = std::chrono::steady_clock::now();
    if (!st.ok()) {
      std::printf("@@RTT-ERROR %s %s\n", CodeName(st.error_code()), st.error_message().c_str());
      return 1;
    }
    if (i > 0) {  // the first call connects
      us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count());
    }
  }
  if (us.empty()) return 1;
  std::sort(us.begin(), us.end());
  std::printf("@@RTT n=%zu median_us=%lld min_us=%lld max_us=%lld\n", us.size(),
              static_cast<long long>(us[us.size() / 2]), static_cast<long long>(us.front()),
              static_cast<long long>(us.back()));
  return 0;
}

int main(int argc, char** argv) {
  const std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 5 && a[0] == "soak") {
    return Soak(a[1], a[2], std::atoi(a[3].c_str()), std::max(1, std::atoi(a[4].c_str())));
  }
  if (a.size() == 7 && a[0] == "cycles") {
    return Cycles(a[1], std::atoi(a[2].c_str()), std::atoi(a[3].c_str()), a[4], a[5], a[6]);
  }
  if (a.size() == 4 && a[0] == "rtt") return Rtt(a[1], a[2], std::max(1, std::atoi(a[3].c_str())));
  std::fprintf(stderr,
               "usage: e2e-driver soak SOCKET VM CALLS CALLERS\n"
               "       e2e-driver cycles SOCKET VMMD_PID N KERNEL INITRD CMDLINE\n"
               "       e2e-driver rtt SOCKET VM N\n");
  return 2;
}
