#include "vmmd/daemon.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "core/common/errno_status.h"
#include "core/common/log.h"
#include "core/common/status_macros.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "vmmd/endpoint/unix_socket.h"

namespace vmmd {
namespace {

constexpr mode_t kSocketMode = 0600;
constexpr mode_t kDirectoryMode = 0755;
constexpr mode_t kStateDirectoryMode = 0700;
// Threads serving RPCs at once; beyond it a call gets RESOURCE_EXHAUSTED instead of a new
// thread (a flood of slow calls cannot exhaust the process).
constexpr int kMaxApiThreads = 64;

std::string ParentDirectory(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Daemon::Daemon(core::Hypervisor* hypervisor, const DaemonOptions& options, ScopedFd lock)
    : hypervisor_(hypervisor),
      options_(options),
      lock_(std::move(lock)),
      vms_(std::make_unique<vmm::VmManager>(hypervisor, ManagerOptions(options))),
      service_(std::make_unique<api::VmmService>(vms_.get())) {}

vmm::VmManagerOptions Daemon::ManagerOptions(const DaemonOptions& options) {
  vmm::VmManagerOptions out;
  out.state_dir = options.state_dir;
  return out;
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(core::Hypervisor* hypervisor,
                                                      const DaemonOptions& options) {
  if (hypervisor == nullptr) return absl::InvalidArgumentError("no hypervisor");
  const std::string& path = options.socket_path;
  if (path.empty()) return absl::InvalidArgumentError("socket path is empty");
  if (path.size() > endpoint::MaxUnixSocketPathLength()) {
    return absl::InvalidArgumentError(absl::StrCat("socket path ", path, " is too long (at most ",
                                                   endpoint::MaxUnixSocketPathLength(), " bytes)"));
  }
  VMMD_RETURN_IF_ERROR(endpoint::CreateDirectories(ParentDirectory(path), kDirectoryMode));
  if (!options.state_dir.empty()) {
    VMMD_RETURN_IF_ERROR(endpoint::CreateDirectories(options.state_dir, kStateDirectoryMode));
  }
  VMMD_ASSIGN_OR_RETURN(ScopedFd lock, endpoint::LockFile(path + ".lock"));
  VMMD_RETURN_IF_ERROR(endpoint::ClaimSocketPath(path));
  const core::HostCapabilities& host = hypervisor->capabilities();
  if (!host.wfi_trapped) {
    LogWarning(
        "vmmd: the host kernel does not trap guest WFI (kvm-arm.wfi_trap_policy=notrap): idle "
        "vCPUs spin in the guest, so their busy time (GetCPUState, /metrics) is wall time, not "
        "load");
  }
  std::unique_ptr<Daemon> daemon(new Daemon(hypervisor, options, std::move(lock)));
  if (!options.metrics_address.empty()) {
    VMMD_RETURN_IF_ERROR(daemon->ServeMetrics(host));
  }
  VMMD_RETURN_IF_ERROR(daemon->Listen());
  return daemon;
}

absl::Status Daemon::Listen() {
  const std::string& path = options_.socket_path;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("unix:", path), grpc::InsecureServerCredentials());
  builder.RegisterService(service_.get());
  grpc::ResourceQuota quota("vmmd-api");
  quota.SetMaxThreads(kMaxApiThreads);
  builder.SetResourceQuota(quota);
  {
    // The socket is created by bind() inside BuildAndStart: create it 0600 from the start
    // (no window with a wider mode), then chmod and verify below anyway.
    const mode_t old_umask = ::umask(0177);
    server_ = builder.BuildAndStart();
    ::umask(old_umask);
  }
  if (server_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on unix:", path, " (see the gRPC error above)"));
  }
  if (absl::Status status = endpoint::SetAndVerifyMode(path, kSocketMode); !status.ok()) {
    Shutdown();
    return status;
  }
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) {
    Shutdown();
    return absl::InternalError("the gRPC health service is not available");
  }
  health->SetServingStatus(true);
  health->SetServingStatus(kVmmServiceName, true);
  {
    absl::MutexLock lock(&mu_);
    serving_ = true;
  }
  LogInfo("vmmd: serving vmmd.v1.Vmm on unix:%s", path);
  return absl::OkStatus();
}

absl::Status Daemon::Readiness() const {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("shutting down");
    if (!serving_) return absl::UnavailableError("the API is not serving yet");
  }
  // What the hypervisor answered at start (OpenKvmHypervisor probed /dev/kvm; the seam has no
  // live check, and an open /dev/kvm does not stop answering).
  if (hypervisor_->capabilities().max_vcpus == 0) {
    return absl::FailedPreconditionError("the hypervisor offers no vCPUs (its limit per VM is 0)");
  }
  return absl::OkStatus();
}

absl::Status Daemon::ServeMetrics(const core::HostCapabilities& host) {
  auto collector =
      std::make_shared<metrics::Collector>(vms_.get(), &service_->stats(), metrics::ThisBuild(),
                                           metrics::HostFacts{.wfi_trapped = host.wfi_trapped});
  absl::StatusOr<std::unique_ptr<http::MetricsServer>> server = http::MetricsServer::Start(
      options_.metrics_address, std::move(collector), [this] { return Readiness(); });
  if (!server.ok()) {
    return absl::Status(server.status().code(),
                        absl::StrCat("--metrics_address: ", server.status().message()));
  }
  metrics_server_ = *std::move(server);
  LogInfo("vmmd: serving http://%s/metrics, /healthz and /readyz (port %d)",
          options_.metrics_address, metrics_server_->port());
  return absl::OkStatus();
}

Daemon::~Daemon() { Shutdown(); }

void Daemon::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  if (server_ != nullptr) {
    if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
      health->SetServingStatus(false);
    }
    LogInfo("vmmd: shutting down the API server (grace %s)",
            absl::FormatDuration(options_.shutdown_grace));
    server_->Shutdown(std::chrono::system_clock::now() +
                      absl::ToChronoMilliseconds(options_.shutdown_grace));
    server_->Wait();
    if (::unlink(options_.socket_path.c_str()) != 0 && errno != ENOENT) {
      LogWarning("vmmd: cannot remove %s: %s", options_.socket_path, std::strerror(errno));
    }
  }
  // Scrapes read the VMs and the service: stop them before either goes. Until here /healthz
  // answers and /readyz says "shutting down".
  metrics_server_.reset();
  LogInfo("vmmd: stopping every VM");
  vms_->StopAll();
  lock_.Reset();  // the socket path is free for the next vmmd
  LogInfo("vmmd: stopped");
}

absl::Status RunDaemon(core::Hypervisor* hypervisor, const DaemonOptions& options) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigset_t old_mask;
  if (const int err = pthread_sigmask(SIG_BLOCK, &signals, &old_mask); err != 0) {
    return ErrnoStatus(err, "pthread_sigmask");
  }
  absl::Cleanup restore_mask = [&] {
    // Drop a second SIGTERM/SIGINT that arrived during shutdown, so that unblocking does not
    // kill the process on the way out.
    const timespec zero{};
    while (sigtimedwait(&signals, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  };
  VMMD_ASSIGN_OR_RETURN(std::unique_ptr<Daemon> daemon, Daemon::Start(hypervisor, options));
  int signal_number = 0;
  if (const int err = sigwait(&signals, &signal_number); err != 0) {
    daemon->Shutdown();
    return ErrnoStatus(err, "sigwait");
  }
  LogInfo("vmmd: %s received", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  daemon->Shutdown();
  return absl::OkStatus();
}

}  // namespace vmmd
