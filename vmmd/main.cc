// vmmd: the daemon. Parses flags, opens the KVM arm64 hypervisor, serves until SIGTERM/SIGINT.
// The only place that exits the process, and the only place with build-dependent #ifs.
#include <malloc.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/common/log.h"
#include "core/common/log_level.h"
#include "vmmd/daemon.h"
#include "vmmd/endpoint/defaults.h"
#include "vmmd/endpoint/transport.h"
#include "vmmd/sandbox/seccomp.h"
#include "vmmd/vmm/vm.h"
#include "vmmd/vmm/vm_spec_validation.h"

#if VMMD_HAVE_KVM_ARM64
#include "core/kvm/kvm_hypervisor.h"
#endif

ABSL_FLAG(std::string, socket, vmmd::endpoint::kDefaultSocketPath,
          "Shorthand for --listen=unix:PATH, kept (the deployment files use it); give --socket "
          "or --listen, not both");
ABSL_FLAG(std::vector<std::string>, listen, {},
          "Comma-separated endpoints to serve the vmmd.v1 API on: at most one unix:PATH (created "
          "0600, or 0660 with --socket_group; its directory 0755) and any tcp://HOST:PORT "
          "(mutual TLS: --tls_cert, --tls_key, --tls_client_ca; plaintext only with --insecure "
          "on a loopback address). Default: unix:/run/vmmd/vmmd.sock");
ABSL_FLAG(std::string, socket_group, "",
          "Group that may use the Unix socket: it becomes 0660 owned by this group. Empty: 0600, "
          "root only");
ABSL_FLAG(std::string, tls_cert, "", "tcp: vmmd's certificate chain (PEM)");
ABSL_FLAG(std::string, tls_key, "", "tcp: vmmd's private key (PEM)");
ABSL_FLAG(std::string, tls_client_ca, "",
          "tcp: the CA (PEM) every client certificate must be signed by; clients without one "
          "are refused in the TLS handshake");
ABSL_FLAG(bool, insecure, false,
          "tcp: serve plaintext, without authentication; allowed on a loopback address only");
ABSL_FLAG(int32_t, max_streams, 256,
          "WatchEvents streams plus ScaleVCPUs calls waiting for their guest, at once, over all "
          "clients; beyond it RESOURCE_EXHAUSTED (1..100000)");
ABSL_FLAG(int32_t, max_vms, 0,
          "VMs that may exist at once (CreateVm beyond it is "
          "RESOURCE_EXHAUSTED). 0: no cap");
ABSL_FLAG(uint64_t, memory_budget_mib, 0,
          "Guest memory (MiB) the VMs may take together, counted for every VM that exists "
          "(whatever its state) when it is created. 0: the host's physical memory");
ABSL_FLAG(double, memory_overcommit, 1.0,
          "Factor on --memory_budget_mib (0.1..100): 1.5 lets the VMs' memory add up to 1.5 "
          "times the budget");
ABSL_FLAG(std::string, state_dir, "/var/lib/vmmd",
          "Per-VM persistent state, one subdirectory per VM: UEFI variables of firmware-booted "
          "VMs and every VM's console log (console.log, rotated to console.log.1 at 16 MiB); "
          "created 0700 if missing. Empty: nothing persists across VM restarts and console "
          "output is dropped");
ABSL_FLAG(std::vector<std::string>, image_dir, {"/var/lib/vmmd/images"},
          "Comma-separated absolute directories (each must exist) whose files a VM spec may "
          "name as kernel_path, initrd_path and firmware_path; vmmd opens such files only "
          "beneath them and never through a symbolic link (docs/security.md). A path outside "
          "them is PERMISSION_DENIED. Given twice, the last one counts");
ABSL_FLAG(std::string, metrics_address, "",
          "HOST:PORT (exactly one) to serve HTTP on, e.g. 127.0.0.1:9477: Prometheus metrics at "
          "/metrics, liveness at /healthz (200 while vmmd answers), readiness at /readyz (200 "
          "when KVM can run vCPUs and the API serves; 503 with the reason, e.g. while shutting "
          "down). Plain HTTP without authentication: bind an address only the scraper and the "
          "prober reach. Empty: off");
ABSL_FLAG(absl::Duration, shutdown_timeout, absl::Seconds(30),
          "At SIGTERM/SIGINT every running guest is asked to power off through its ACPI power "
          "button, all at once; how long they have together (e.g. 30s, 2m; at most 10m) before "
          "the rest are stopped at once. 0: stop every VM at once");
ABSL_FLAG(std::string, seccomp, "enforce",
          "seccomp filters (docs/security.md \"Least privilege\"): enforce (a forbidden system "
          "call kills vmmd with SIGSYS), log (allowed, logged by the kernel: to find what a "
          "filter misses) or off");
ABSL_FLAG(std::string, log_level, "info", "Minimum log level: debug, info, warning or error");

namespace {

// --listen (or the deprecated --socket), the TLS files and the caps, into `options`.
absl::Status ApplyListenFlags(vmmd::DaemonOptions* options) {
  std::vector<std::string> listen = absl::GetFlag(FLAGS_listen);
  const std::string socket = absl::GetFlag(FLAGS_socket);
  if (listen.empty()) {
    listen.push_back(absl::StrCat("unix:", socket));
  } else if (socket != vmmd::endpoint::kDefaultSocketPath) {
    return absl::InvalidArgumentError(
        "--socket is a shorthand for --listen=unix:PATH: give one of them");
  }
  options->socket_path.clear();
  for (const std::string& text : listen) {
    absl::StatusOr<vmmd::endpoint::Address> address =
        vmmd::endpoint::ParseAddress(text, "--listen");
    if (!address.ok()) return address.status();
    if (address->kind == vmmd::endpoint::Address::Kind::kTcp) {
      options->tcp_listen.push_back(text);
      continue;
    }
    if (!options->socket_path.empty()) {
      return absl::InvalidArgumentError("--listen: at most one unix: socket");
    }
    options->socket_path = address->path;
  }
  options->socket_group = absl::GetFlag(FLAGS_socket_group);
  options->tls = {.cert = absl::GetFlag(FLAGS_tls_cert),
                  .key = absl::GetFlag(FLAGS_tls_key),
                  .ca = absl::GetFlag(FLAGS_tls_client_ca)};
  options->insecure = absl::GetFlag(FLAGS_insecure);
  if (options->tcp_listen.empty() && (options->insecure || !options->tls.cert.empty() ||
                                      !options->tls.key.empty() || !options->tls.ca.empty())) {
    return absl::InvalidArgumentError(
        "--insecure and --tls_* apply to a tcp:// --listen address, and none is given");
  }
  const int32_t max_streams = absl::GetFlag(FLAGS_max_streams);
  if (max_streams < 1 || max_streams > 100000) {
    return absl::InvalidArgumentError("--max_streams must be 1..100000");
  }
  options->api.max_streams = max_streams;
  if (absl::GetFlag(FLAGS_max_vms) < 0) return absl::InvalidArgumentError("--max_vms must be >= 0");
  options->api.max_vms = absl::GetFlag(FLAGS_max_vms);
  const double overcommit = absl::GetFlag(FLAGS_memory_overcommit);
  if (!(overcommit >= 0.1 && overcommit <= 100)) {
    return absl::InvalidArgumentError("--memory_overcommit must be 0.1..100");
  }
  options->api.memory_overcommit = overcommit;
  options->api.memory_budget_mib = absl::GetFlag(FLAGS_memory_budget_mib);
  if (options->api.memory_budget_mib == 0) {
    options->api.memory_budget_mib = vmmd::vmm::HostPhysicalMemoryBytes() >> 20;
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  // One malloc arena for every thread, before any thread starts. glibc gives threads arenas of
  // their own (up to 8 per CPU), and with transparent huge pages each arena's heap is resident
  // in whole 2 MiB pages: VMs that come and go left vmmd ~13 MB larger for good after a few
  // hundred create/delete cycles in the nested bed, ~3 MB with one arena (docs/benchmarks.md).
  // vmmd's threads allocate little and mostly small (glibc's per-thread caches take those
  // without the arena lock).
  mallopt(M_ARENA_MAX, 1);
  // --help lists the flags defined in this file (absl looks for <program>.cc by default).
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "vmmd/main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "KVM arm64 virtual machine monitor daemon.\n"
      "Usage: vmmd [--listen=unix:PATH,tcp://HOST:PORT] [--socket_group=GROUP]\n"
      "            [--tls_cert=FILE --tls_key=FILE --tls_client_ca=FILE | --insecure]\n"
      "            [--max_streams=N] [--max_vms=N] [--memory_budget_mib=MIB]\n"
      "            [--memory_overcommit=X] [--state_dir=DIR] [--image_dir=DIR[,DIR...]]\n"
      "            [--metrics_address=HOST:PORT] [--shutdown_timeout=DURATION]\n"
      "            [--seccomp=enforce|log|off] [--log_level=debug|info|warning|error]");
  const std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr, "vmmd: unexpected argument '%s' (see --help)\n", rest[1]);
    return 2;
  }
  vmmd::LogLevel level = vmmd::LogLevel::kInfo;
  if (!vmmd::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    std::fprintf(stderr, "vmmd: --log_level must be debug, info, warning or error (got '%s')\n",
                 absl::GetFlag(FLAGS_log_level).c_str());
    return 2;
  }
  vmmd::SetMinLogLevel(level);
  vmmd::DaemonOptions options;
  if (const absl::Status listen = ApplyListenFlags(&options); !listen.ok()) {
    std::fprintf(stderr, "vmmd: %s\n", std::string(listen.message()).c_str());
    return 2;
  }
  options.state_dir = absl::GetFlag(FLAGS_state_dir);
  options.image_dirs = absl::GetFlag(FLAGS_image_dir);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.shutdown_timeout = absl::GetFlag(FLAGS_shutdown_timeout);
  if (options.shutdown_timeout < absl::ZeroDuration() ||
      options.shutdown_timeout > vmmd::vmm::kMaxStopGrace) {
    std::fprintf(stderr, "vmmd: --shutdown_timeout must be 0..10m (got %s)\n",
                 absl::FormatDuration(options.shutdown_timeout).c_str());
    return 2;
  }
  const absl::StatusOr<vmmd::sandbox::SeccompMode> seccomp =
      vmmd::sandbox::ParseSeccompMode(absl::GetFlag(FLAGS_seccomp));
  if (!seccomp.ok()) {
    std::fprintf(stderr, "vmmd: %s\n", std::string(seccomp.status().message()).c_str());
    return 2;
  }
  // Before any thread exists: every thread inherits the process filter.
  if (const absl::Status confined = vmmd::sandbox::ConfineProcess(*seccomp); !confined.ok()) {
    std::fprintf(stderr, "vmmd: %s (--seccomp=off runs without)\n",
                 std::string(confined.message()).c_str());
    return 1;
  }
  vmmd::LogInfo("vmmd: seccomp filters: %s", vmmd::sandbox::SeccompModeName(*seccomp));

#if VMMD_HAVE_KVM_ARM64
  absl::StatusOr<std::unique_ptr<vmmd::core::Hypervisor>> hypervisor =
      vmmd::core::OpenKvmHypervisor();
  if (!hypervisor.ok()) {
    std::fprintf(stderr, "vmmd: %s\n", std::string(hypervisor.status().message()).c_str());
    return 1;
  }
  const absl::Status status = vmmd::RunDaemon(hypervisor->get(), options);
  if (!status.ok()) {
    std::fprintf(stderr, "vmmd: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
#else
  std::fprintf(stderr, "vmmd: this build has no KVM arm64 backend (build for aarch64)\n");
  return 1;
#endif
}
