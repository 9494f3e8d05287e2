// vmmd: the daemon. Parses flags, opens the KVM arm64 hypervisor, serves until SIGTERM/SIGINT.
// The only place that exits the process, and the only place with build-dependent #ifs.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "core/common/log.h"
#include "vmmd/daemon.h"
#include "vmmd/defaults.h"

#if VMMD_HAVE_KVM_ARM64
#include "core/kvm/kvm_hypervisor.h"
#endif

ABSL_FLAG(std::string, socket, vmmd::kDefaultSocketPath,
          "Unix socket to serve the vmmd.v1 API on (created 0600; its directory 0755)");
ABSL_FLAG(std::string, log_level, "info", "Minimum log level: debug, info, warning or error");

namespace {

bool ParseLogLevel(const std::string& text, vmmd::LogLevel* level) {
  if (text == "debug") *level = vmmd::LogLevel::kDebug;
  else if (text == "info") *level = vmmd::LogLevel::kInfo;
  else if (text == "warning") *level = vmmd::LogLevel::kWarning;
  else if (text == "error") *level = vmmd::LogLevel::kError;
  else return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "vmmd: KVM arm64 virtual machine monitor daemon.\n"
      "Usage: vmmd [--socket=PATH] [--log_level=debug|info|warning|error]");
  const std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr, "vmmd: unexpected argument '%s' (see --help)\n", rest[1]);
    return 2;
  }
  vmmd::LogLevel level = vmmd::LogLevel::kInfo;
  if (!ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    std::fprintf(stderr, "vmmd: --log_level must be debug, info, warning or error (got '%s')\n",
                 absl::GetFlag(FLAGS_log_level).c_str());
    return 2;
  }
  vmmd::SetMinLogLevel(level);
  vmmd::DaemonOptions options;
  options.socket_path = absl::GetFlag(FLAGS_socket);

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
