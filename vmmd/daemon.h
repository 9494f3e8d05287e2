// The vmmd daemon as a library: the gRPC server on a Unix socket over a vmm::VmManager.
// main() only parses flags, opens the hypervisor and calls RunDaemon.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/common/confined_dir.h"
#include "core/common/scoped_fd.h"
#include "core/hypervisor/hypervisor.h"
#include "grpcpp/server.h"
#include "vmmd/api/grpc_service.h"
#include "vmmd/endpoint/defaults.h"
#include "vmmd/endpoint/transport.h"
#include "vmmd/http/server.h"
#include "vmmd/metrics/collector.h"
#include "vmmd/vmm/vm_manager.h"

namespace vmmd {

struct DaemonOptions {
  // The API socket. Its parent directory is created (0755) if missing; the socket is 0600.
  // Empty: no Unix socket (then tcp_listen must not be empty).
  std::string socket_path = endpoint::kDefaultSocketPath;
  // The socket's group (--socket_group): the socket is then 0660, owned by it. Empty: 0600.
  std::string socket_group;
  // tcp://HOST:PORT addresses to serve the API on too (endpoint/transport.h): mutual TLS with
  // `tls` (cert, key, and ca = the CA client certificates must chain to), or plaintext with
  // `insecure`, on a loopback address only. PORT 0 picks a free port (tcp_ports()).
  std::vector<std::string> tcp_listen;
  endpoint::TlsFiles tls;
  bool insecure = false;
  // Where per-VM persistent state (each VM's record, a firmware-booted VM's UEFI variables,
  // every VM's console log) lives, one subdirectory per VM; created (0700) at start if missing.
  // At start the VMs recorded there are listed again and those that should run are booted
  // (VmManager::Restore). Empty: nothing persists, console output is dropped.
  std::string state_dir;
  // The only directories whose files a VmSpec may name (kernel, initrd, firmware): absolute,
  // canonical, existing; opened at start (a missing one fails the start). Empty: none, so every
  // CreateVm naming a file is PERMISSION_DENIED. vmmd's --image_dir flag fills it.
  std::vector<std::string> image_dirs;
  // HOST:PORT to serve Prometheus metrics (/metrics), liveness (/healthz) and readiness
  // (/readyz, see Daemon::Readiness) on (plain HTTP, no authentication: bind it to an address
  // only the scraper and the prober reach). PORT 0 picks a free port. Empty: no HTTP.
  std::string metrics_address;
  // How long in-flight RPCs may run once shutdown begins; then they are cancelled.
  absl::Duration shutdown_grace = absl::Seconds(5);
  // At shutdown every running guest is asked to power off through its ACPI power button, all
  // at once, and they have this long together (VmManager::StopAll); then the rest are stopped
  // at once. Zero (the default here; vmmd's --shutdown_timeout gives 30 s): every VM is
  // stopped at once.
  absl::Duration shutdown_timeout = absl::ZeroDuration();
  // What one client may hold or create (--max_streams, --max_vms, the memory budget).
  api::ServiceOptions api;
  // The largest request the server reads; gRPC answers RESOURCE_EXHAUSTED beyond it.
  int max_receive_bytes = 1 << 20;
};

// The full name under which the health service reports the API ("" reports the server).
inline constexpr char kVmmServiceName[] = "vmmd.v1.Vmm";

class Daemon {
 public:
  // Claims the socket path (single instance: a lock file "<socket>.lock", and a socket file
  // that still answers is refused with ALREADY_EXISTS; a stale one is removed), then serves
  // HTTP when metrics_address is set (an address that cannot be bound fails the start), then
  // vmmd.v1.Vmm and grpc.health.v1.Health (SERVING). `hypervisor` must outlive the daemon.
  // First of all it ignores SIGPIPE for the whole process (core/common/signals.h).
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(core::Hypervisor* hypervisor,
                                                       const DaemonOptions& options);
  ~Daemon();  // Shutdown()
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Idempotent, thread-safe: not ready, health NOT_SERVING, server shutdown (in-flight RPCs
  // get shutdown_grace), HTTP closed, every VM stopped, socket file removed, lock released.
  void Shutdown();

  // What /readyz answers: OK when vmmd can take work — the hypervisor can run vCPUs (it
  // answered its capability probe at start with a vCPU limit above 0) and the API serves
  // (started, not shutting down); otherwise UNAVAILABLE, or FAILED_PRECONDITION for the
  // hypervisor, saying why. Cheap (a lock and two flags), thread-safe.
  absl::Status Readiness() const;

  const std::string& socket_path() const { return options_.socket_path; }
  // The port each of options.tcp_listen is served on, in order.
  const std::vector<int>& tcp_ports() const { return tcp_ports_; }
  vmm::VmManager& vms() { return *vms_; }
  api::VmmService& service() { return *service_; }
  // The port HTTP (/metrics, /healthz, /readyz) is served on; 0 without it.
  int metrics_port() const { return metrics_server_ ? metrics_server_->port() : 0; }

 private:
  Daemon(core::Hypervisor* hypervisor, const DaemonOptions& options, ScopedFd lock,
         std::shared_ptr<const ConfinedDirs> image_dirs,
         std::shared_ptr<vmm::VmRecordStore> records);
  static vmm::VmManagerOptions ManagerOptions(const DaemonOptions& options,
                                              std::shared_ptr<const ConfinedDirs> image_dirs,
                                              std::shared_ptr<vmm::VmRecordStore> records);
  absl::Status Listen();
  absl::Status SecureSocket();
  std::vector<std::string> Endpoints() const;  // for log lines
  absl::Status ServeMetrics(const core::HostCapabilities& host);

  core::Hypervisor* const hypervisor_;
  const DaemonOptions options_;
  ScopedFd lock_;  // flock on <socket>.lock, held until Shutdown()
  // Destruction order matters: the server goes first, then the service, then the VMs.
  std::unique_ptr<vmm::VmManager> vms_;
  std::unique_ptr<api::VmmService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<int> tcp_ports_;  // filled by BuildAndStart
  // Reads vms_, service_ and Readiness(): reset in Shutdown() before any of them goes.
  std::unique_ptr<http::MetricsServer> metrics_server_;
  mutable absl::Mutex mu_;
  bool serving_ ABSL_GUARDED_BY(mu_) = false;  // the API server has started
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

// Runs the daemon until SIGTERM or SIGINT, then shuts it down and returns. Blocks both
// signals in the calling thread first (threads it starts inherit the mask) and takes them
// with sigwait; call it before the process starts other threads. Restores the signal mask.
absl::Status RunDaemon(core::Hypervisor* hypervisor, const DaemonOptions& options);

}  // namespace vmmd
