// The vmmd daemon as a library: the gRPC server on a Unix socket over a vmm::VmManager.
// main() only parses flags, opens the hypervisor and calls RunDaemon.
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/common/scoped_fd.h"
#include "core/hypervisor/hypervisor.h"
#include "grpcpp/server.h"
#include "vmmd/api/grpc_service.h"
#include "vmmd/endpoint/defaults.h"
#include "vmmd/http/server.h"
#include "vmmd/metrics/collector.h"
#include "vmmd/vmm/vm_manager.h"

namespace vmmd {

struct DaemonOptions {
  // The API socket. Its parent directory is created (0755) if missing; the socket is 0600.
  std::string socket_path = endpoint::kDefaultSocketPath;
  // Where per-VM persistent state (a firmware-booted VM's UEFI variables) lives, one
  // subdirectory per VM; created (0700) at start if missing. Empty: nothing persists.
  std::string state_dir;
  // HOST:PORT to serve Prometheus metrics (/metrics), liveness (/healthz) and readiness
  // (/readyz, see Daemon::Readiness) on (plain HTTP, no authentication: bind it to an address
  // only the scraper and the prober reach). PORT 0 picks a free port. Empty: no HTTP.
  std::string metrics_address;
  // How long in-flight RPCs may run once shutdown begins; then they are cancelled.
  absl::Duration shutdown_grace = absl::Seconds(5);
};

// The full name under which the health service reports the API ("" reports the server).
inline constexpr char kVmmServiceName[] = "vmmd.v1.Vmm";

class Daemon {
 public:
  // Claims the socket path (single instance: a lock file "<socket>.lock", and a socket file
  // that still answers is refused with ALREADY_EXISTS; a stale one is removed), then serves
  // HTTP when metrics_address is set (an address that cannot be bound fails the start), then
  // vmmd.v1.Vmm and grpc.health.v1.Health (SERVING). `hypervisor` must outlive the daemon.
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
  vmm::VmManager& vms() { return *vms_; }
  // The port HTTP (/metrics, /healthz, /readyz) is served on; 0 without it.
  int metrics_port() const { return metrics_server_ ? metrics_server_->port() : 0; }

 private:
  Daemon(core::Hypervisor* hypervisor, const DaemonOptions& options, ScopedFd lock);
  static vmm::VmManagerOptions ManagerOptions(const DaemonOptions& options);
  absl::Status Listen();
  absl::Status ServeMetrics(const core::HostCapabilities& host);

  core::Hypervisor* const hypervisor_;
  const DaemonOptions options_;
  ScopedFd lock_;  // flock on <socket>.lock, held until Shutdown()
  // Destruction order matters: the server goes first, then the service, then the VMs.
  std::unique_ptr<vmm::VmManager> vms_;
  std::unique_ptr<api::VmmService> service_;
  std::unique_ptr<grpc::Server> server_;
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
