#include "vmmd/daemon.h"

#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/common/errno_status.h"
#include "core/common/log.h"
#include "core/common/signals.h"
#include "core/common/status_macros.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "vmmd/endpoint/transport.h"
#include "vmmd/endpoint/unix_socket.h"

namespace vmmd {
namespace {

constexpr mode_t kSocketMode = 0600;
constexpr mode_t kGroupSocketMode = 0660;
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

absl::StatusOr<endpoint::Address> ParseTcp(const std::string& text) {
  VMMD_ASSIGN_OR_RETURN(endpoint::Address address, endpoint::ParseAddress(text, "--listen"));
  if (address.kind != endpoint::Address::Kind::kTcp) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen ", text, ": at most one unix: socket (the others must be tcp://)"));
  }
  return address;
}

absl::StatusOr<gid_t> GroupId(const std::string& name) {
  group entry{};
  group* found = nullptr;
  std::vector<char> buffer(16384);
  const int err = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (err != 0) return ErrnoStatus(err, absl::StrCat("--socket_group: looking up ", name));
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrCat("--socket_group: no group named ", name));
  }
  return found->gr_gid;
}

}  // namespace

Daemon::Daemon(core::Hypervisor* hypervisor, const DaemonOptions& options, ScopedFd lock,
               std::shared_ptr<const ConfinedDirs> image_dirs,
               std::shared_ptr<vmm::VmRecordStore> records)
    : hypervisor_(hypervisor),
      options_(options),
      lock_(std::move(lock)),
      vms_(std::make_unique<vmm::VmManager>(
          hypervisor, ManagerOptions(options, std::move(image_dirs), std::move(records)))),
      service_(std::make_unique<api::VmmService>(vms_.get(), options.api)) {}

vmm::VmManagerOptions Daemon::ManagerOptions(const DaemonOptions& options,
                                             std::shared_ptr<const ConfinedDirs> image_dirs,
                                             std::shared_ptr<vmm::VmRecordStore> records) {
  vmm::VmManagerOptions out;
  out.state_dir = options.state_dir;
  out.image_dirs = std::move(image_dirs);
  out.records = std::move(records);
  return out;
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(core::Hypervisor* hypervisor,
                                                      const DaemonOptions& options) {
  if (hypervisor == nullptr) return absl::InvalidArgumentError("no hypervisor");
  // A peer or a log reader that goes away must cost a write EPIPE, not the daemon its life.
  VMMD_RETURN_IF_ERROR(IgnoreSigpipe());
  const std::string& path = options.socket_path;
  if (path.empty() && options.tcp_listen.empty()) {
    return absl::InvalidArgumentError("no API endpoint: give a unix: socket or a tcp:// address");
  }
  // Every TCP listener's credentials are checked before anything is claimed: plaintext off
  // loopback, a missing or unreadable certificate stop the start.
  for (const std::string& tcp : options.tcp_listen) {
    VMMD_ASSIGN_OR_RETURN(const endpoint::Address address, ParseTcp(tcp));
    VMMD_RETURN_IF_ERROR(
        endpoint::ServerCredentialsFor(address, options.tls, options.insecure).status());
  }
  if (!options.socket_group.empty()) {
    VMMD_RETURN_IF_ERROR(GroupId(options.socket_group).status());
  }
  if (!path.empty()) {
    if (path.size() > endpoint::MaxUnixSocketPathLength()) {
      return absl::InvalidArgumentError(absl::StrCat("socket path ", path, " is too long (at most ",
                                                     endpoint::MaxUnixSocketPathLength(),
                                                     " bytes)"));
    }
    VMMD_RETURN_IF_ERROR(endpoint::CreateDirectories(ParentDirectory(path), kDirectoryMode));
  }
  std::shared_ptr<vmm::VmRecordStore> records;
  if (!options.state_dir.empty()) {
    VMMD_RETURN_IF_ERROR(endpoint::CreateDirectories(options.state_dir, kStateDirectoryMode));
    VMMD_ASSIGN_OR_RETURN(records, vmm::VmRecordStore::Open(options.state_dir));
  }
  // Opened once, now: a missing directory or a kernel without openat2 stops the start.
  VMMD_ASSIGN_OR_RETURN(ConfinedDirs image_dirs,
                        ConfinedDirs::Open(options.image_dirs, "--image_dir"));
  ScopedFd lock;  // single instance per socket; TCP ports are exclusive (no SO_REUSEPORT)
  if (!path.empty()) {
    VMMD_ASSIGN_OR_RETURN(lock, endpoint::LockFile(path + ".lock"));
    VMMD_RETURN_IF_ERROR(endpoint::ClaimSocketPath(path));
  }
  const core::HostCapabilities& host = hypervisor->capabilities();
  if (!host.wfi_trapped) {
    LogWarning(
        "vmmd: the host kernel does not trap guest WFI (kvm-arm.wfi_trap_policy=notrap): idle "
        "vCPUs spin in the guest, so their busy time (GetCPUState, /metrics) is wall time, not "
        "load");
  }
  LogInfo("vmmd: image directories (--image_dir): %s", image_dirs.Describe());
  std::unique_ptr<Daemon> daemon(
      new Daemon(hypervisor, options, std::move(lock),
                 std::make_shared<const ConfinedDirs>(std::move(image_dirs)), std::move(records)));
  // The previous process's VMs, before any client can see a partial list.
  if (!options.state_dir.empty()) {
    const vmm::RestoreSummary restored = daemon->vms_->Restore();
    LogInfo("vmmd: %d VM(s) restored from %s: %d started, %d failed", restored.restored,
            options.state_dir, restored.started, restored.failed);
  }
  if (!options.metrics_address.empty()) {
    VMMD_RETURN_IF_ERROR(daemon->ServeMetrics(host));
  }
  VMMD_RETURN_IF_ERROR(daemon->Listen());
  return daemon;
}

absl::Status Daemon::Listen() {
  const std::string& path = options_.socket_path;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!path.empty()) {
    builder.AddListeningPort(absl::StrCat("unix:", path), grpc::InsecureServerCredentials());
  }
  std::vector<endpoint::Address> tcp;
  tcp_ports_.assign(options_.tcp_listen.size(), 0);
  for (size_t i = 0; i < options_.tcp_listen.size(); ++i) {
    VMMD_ASSIGN_OR_RETURN(endpoint::Address address, ParseTcp(options_.tcp_listen[i]));
    VMMD_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                          endpoint::ServerCredentialsFor(address, options_.tls, options_.insecure));
    builder.AddListeningPort(address.GrpcTarget(), credentials, &tcp_ports_[i]);
    tcp.push_back(std::move(address));
  }
  // Two daemons must not share a TCP port (gRPC sets SO_REUSEPORT by default).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(service_.get());
  grpc::ResourceQuota quota("vmmd-api");
  quota.SetMaxThreads(kMaxApiThreads);
  builder.SetResourceQuota(quota);
  builder.SetMaxReceiveMessageSize(options_.max_receive_bytes);
  {
    // The socket is created by bind() inside BuildAndStart: create it 0600 from the start
    // (no window with a wider mode), then chmod and verify below anyway.
    const mode_t old_umask = ::umask(0177);
    server_ = builder.BuildAndStart();
    ::umask(old_umask);
  }
  if (server_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", absl::StrJoin(Endpoints(), ", "), " (see the gRPC error above)"));
  }
  for (size_t i = 0; i < tcp.size(); ++i) {
    if (tcp_ports_[i] == 0) {
      Shutdown();
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", tcp[i].ToString(), " (see the gRPC error above)"));
    }
  }
  if (!path.empty()) {
    if (absl::Status status = SecureSocket(); !status.ok()) {
      Shutdown();
      return status;
    }
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
  LogInfo("vmmd: serving vmmd.v1.Vmm on %s", absl::StrJoin(Endpoints(), ", "));
  return absl::OkStatus();
}

std::vector<std::string> Daemon::Endpoints() const {
  std::vector<std::string> out;
  if (!options_.socket_path.empty()) {
    out.push_back(absl::StrCat("unix:", options_.socket_path,
                               options_.socket_group.empty()
                                   ? " (0600)"
                                   : absl::StrCat(" (0660, group ", options_.socket_group, ")")));
  }
  for (size_t i = 0; i < options_.tcp_listen.size(); ++i) {
    absl::StrAppend(&out.emplace_back(), options_.tcp_listen[i],
                    options_.insecure ? " (plaintext, loopback)" : " (mutual TLS)");
    if (i < tcp_ports_.size() && tcp_ports_[i] != 0) {
      absl::StrAppend(&out.back(), " port ", tcp_ports_[i]);
    }
  }
  return out;
}

// The socket was created 0600 (umask); with a group it becomes 0660 owned by that group.
absl::Status Daemon::SecureSocket() {
  const std::string& path = options_.socket_path;
  if (options_.socket_group.empty()) return endpoint::SetAndVerifyMode(path, kSocketMode);
  VMMD_ASSIGN_OR_RETURN(const gid_t gid, GroupId(options_.socket_group));
  if (::chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0) {
    const int err = errno;
    return ErrnoStatus(
        err, absl::StrCat("--socket_group: chown ", path, " to group ", options_.socket_group));
  }
  return endpoint::SetAndVerifyMode(path, kGroupSocketMode);
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
    // Streams and waiting calls end first (UNAVAILABLE), so the server's shutdown does not
    // wait for them.
    service_->EndLongCalls();
  }
  // The guests next, in parallel, each asked through its ACPI power button: an in-flight
  // StopVm waiting for its guest returns once its VM is stopped here, so the server's shutdown
  // below does not wait out that call's own timeout.
  LogInfo("vmmd: stopping every VM (the guests have %s to power off)",
          absl::FormatDuration(options_.shutdown_timeout));
  vms_->StopAll(options_.shutdown_timeout);
  if (server_ != nullptr) {
    LogInfo("vmmd: shutting down the API server (grace %s)",
            absl::FormatDuration(options_.shutdown_grace));
    server_->Shutdown(std::chrono::system_clock::now() +
                      absl::ToChronoMilliseconds(options_.shutdown_grace));
    server_->Wait();
    if (!options_.socket_path.empty() && ::unlink(options_.socket_path.c_str()) != 0 &&
        errno != ENOENT) {
      LogWarning("vmmd: cannot remove %s: %s", options_.socket_path, std::strerror(errno));
    }
  }
  // Scrapes read the VMs and the service: stop them before either goes. Until here /healthz
  // answers and /readyz says "shutting down".
  metrics_server_.reset();
  vms_->StopAll();  // one a client started during the stop above
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
