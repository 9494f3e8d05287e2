// vmmd: the daemon. Parses flags, opens the KVM arm64 hypervisor, serves until SIGTERM/SIGINT.
// The only place that exits the process, and the only place with build-dependent #ifs.
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
#include "absl/strings/string_view.h"
#include "core/common/log.h"
#include "core/common/log_level.h"
#include "vmmd/daemon.h"
#include "vmmd/endpoint/defaults.h"

#if VMMD_HAVE_KVM_ARM64
#include "core/kvm/kvm_hypervisor.h"
#endif

ABSL_FLAG(std::string, socket, vmmd::endpoint::kDefaultSocketPath,
          "Unix socket to serve the vmmd.v1 API on (created 0600; its directory 0755)");
ABSL_FLAG(std::string, state_dir, "/var/lib/vmmd",
          "Per-VM persistent state (UEFI variables of firmware-booted VMs), one subdirectory "
          "per VM; created 0700 if missing. Empty: nothing persists across VM restarts");
ABSL_FLAG(std::string, metrics_address, "",
          "HOST:PORT (exactly one) to serve HTTP on, e.g. 127.0.0.1:9477: Prometheus metrics at "
          "/metrics, liveness at /healthz (200 while vmmd answers), readiness at /readyz (200 "
          "when KVM can run vCPUs and the API serves; 503 with the reason, e.g. while shutting "
          "down). Plain HTTP without authentication: bind an address only the scraper and the "
          "prober reach. Empty: off");
ABSL_FLAG(std::string, log_level, "info", "Minimum log level: debug, info, warning or error");

int main(int argc, char** argv) {
  // --help lists the flags defined in this file (absl looks for <program>.cc by default).
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "vmmd/main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "KVM arm64 virtual machine monitor daemon.\n"
      "Usage: vmmd [--socket=PATH] [--state_dir=DIR] [--metrics_address=HOST:PORT]\n"
      "            [--log_level=debug|info|warning|error]");
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
  options.socket_path = absl::GetFlag(FLAGS_socket);
  options.state_dir = absl::GetFlag(FLAGS_state_dir);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_address);

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
