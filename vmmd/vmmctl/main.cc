// vmmctl: the command-line client of vmmd. See UsageText() (vmmctl --help).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "vmmd/endpoint/defaults.h"
#include "vmmd/vmmctl/args.h"
#include "vmmd/vmmctl/commands.h"

ABSL_FLAG(std::string, socket, vmmd::endpoint::kDefaultSocketPath, "vmmd's API socket");
ABSL_FLAG(std::string, server, "",
          "vmmd's API: unix:PATH or tcp://HOST:PORT (instead of --socket)");
ABSL_FLAG(std::string, tls_cert, "", "tcp: this client's certificate (PEM)");
ABSL_FLAG(std::string, tls_key, "", "tcp: this client's private key (PEM)");
ABSL_FLAG(std::string, tls_ca, "", "tcp: the CA that signed vmmd's certificate (PEM)");
ABSL_FLAG(bool, insecure, false, "tcp: plaintext, to a loopback address only");
ABSL_FLAG(bool, json, false, "print the response message as JSON");
ABSL_FLAG(double, timeout, 30, "deadline of the call, in seconds");
ABSL_FLAG(std::string, kernel, "", "create: arm64 kernel Image");
ABSL_FLAG(std::string, initrd, "", "create: initramfs");
ABSL_FLAG(std::string, cmdline, "", "create: kernel command line");
ABSL_FLAG(std::string, firmware, "", "create: UEFI firmware for flash0");
ABSL_FLAG(std::string, boot, "",
          "create: boot mode: dt (device tree), uefi (needs --firmware) or acpi-direct");
ABSL_FLAG(std::string, disk, "", "create: a virtio disk PATH[,ro][,serial=ID] (repeatable)");
ABSL_FLAG(std::string, net, "",
          "create: a virtio NIC on a host TAP tap=NAME[,mac=MAC] (repeatable)");
ABSL_FLAG(bool, entropy, false, "create: give the guest a virtio-rng device");
ABSL_FLAG(uint64_t, memory_mib, 0, "create: guest RAM in MiB");
ABSL_FLAG(uint32_t, vcpus, 0, "create: vCPUs online at boot; scale: the target");
ABSL_FLAG(std::string, wait, "online", "scale: online, enabled or none");
ABSL_FLAG(bool, force, false, "stop: at once, without asking the guest");
ABSL_FLAG(uint32_t, max_vcpus, 0, "create: possible vCPUs");
ABSL_FLAG(uint32_t, start_vcpus, 0,
          "create: vCPUs available at the first start (above --vcpus: removable, ACPI boots)");
ABSL_FLAG(std::string, mode, "", "autoscale: auto, recommend or off");
ABSL_FLAG(std::string, autoscale, "", "create: autoscale mode (auto, recommend or off)");
ABSL_FLAG(uint32_t, min, 0, "autoscale: fewest vCPUs");
ABSL_FLAG(uint32_t, max, 0, "autoscale: most vCPUs");
ABSL_FLAG(double, target_utilization, 0, "autoscale: wanted busy fraction of online vCPUs");
ABSL_FLAG(double, tolerance, 0, "autoscale: no change within 1 +- this of the target");
ABSL_FLAG(double, scale_up_stabilization, 0, "autoscale: scale-up window, seconds");
ABSL_FLAG(double, scale_down_stabilization, 0, "autoscale: scale-down window, seconds");
ABSL_FLAG(uint32_t, scale_up_step, 0, "autoscale: most vCPUs added per step period");
ABSL_FLAG(uint32_t, scale_down_step, 0, "autoscale: most vCPUs removed per step period");
ABSL_FLAG(double, step_period, 0, "autoscale: the step limits' period, seconds");
ABSL_FLAG(double, interval, 2, "top: seconds between frames");
ABSL_FLAG(uint32_t, count, 0, "top: frames to print (0: until interrupted)");
ABSL_FLAG(bool, once, false, "top: one frame after one interval");
ABSL_FLAG(std::string, sort, "name", "top: name, util, steal or vcpus");
ABSL_FLAG(bool, follow, false, "console: keep printing as the log grows");

namespace {

int UsageError(const std::string& problem) {
  std::fprintf(stderr, "vmmctl: %s\n%s", problem.c_str(), vmmd::vmmctl::UsageText().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using vmmd::vmmctl::ParsedArgs;
  const std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  absl::StatusOr<ParsedArgs> parsed = vmmd::vmmctl::ParseArgs(args, vmmd::vmmctl::KnownFlags());
  if (!parsed.ok()) return UsageError(std::string(parsed.status().message()));
  if (parsed->help) {
    std::fputs(vmmd::vmmctl::UsageText().c_str(), stdout);
    return 0;
  }
  vmmd::vmmctl::FlagValues flags;
  flags.socket = absl::GetFlag(FLAGS_socket);
  flags.server = absl::GetFlag(FLAGS_server);
  flags.tls = {.cert = absl::GetFlag(FLAGS_tls_cert),
               .key = absl::GetFlag(FLAGS_tls_key),
               .ca = absl::GetFlag(FLAGS_tls_ca)};
  flags.insecure = absl::GetFlag(FLAGS_insecure);
  flags.json = absl::GetFlag(FLAGS_json);
  flags.timeout_seconds = absl::GetFlag(FLAGS_timeout);
  flags.timeout_set = parsed->flags_set.contains("timeout");
  flags.wait = absl::GetFlag(FLAGS_wait);
  flags.force = absl::GetFlag(FLAGS_force);
  flags.kernel = absl::GetFlag(FLAGS_kernel);
  flags.initrd = absl::GetFlag(FLAGS_initrd);
  flags.cmdline = absl::GetFlag(FLAGS_cmdline);
  flags.firmware = absl::GetFlag(FLAGS_firmware);
  flags.boot = absl::GetFlag(FLAGS_boot);
  if (auto it = parsed->values.find("disk"); it != parsed->values.end()) flags.disks = it->second;
  if (auto it = parsed->values.find("net"); it != parsed->values.end()) flags.nics = it->second;
  flags.entropy = absl::GetFlag(FLAGS_entropy);
  flags.memory_mib = absl::GetFlag(FLAGS_memory_mib);
  flags.vcpus = absl::GetFlag(FLAGS_vcpus);
  flags.max_vcpus = absl::GetFlag(FLAGS_max_vcpus);
  flags.start_vcpus = absl::GetFlag(FLAGS_start_vcpus);
  flags.mode = absl::GetFlag(FLAGS_mode);
  flags.autoscale = absl::GetFlag(FLAGS_autoscale);
  flags.min = absl::GetFlag(FLAGS_min);
  flags.max = absl::GetFlag(FLAGS_max);
  flags.target_utilization = absl::GetFlag(FLAGS_target_utilization);
  flags.tolerance = absl::GetFlag(FLAGS_tolerance);
  flags.scale_up_stabilization = absl::GetFlag(FLAGS_scale_up_stabilization);
  flags.scale_down_stabilization = absl::GetFlag(FLAGS_scale_down_stabilization);
  flags.scale_up_step = absl::GetFlag(FLAGS_scale_up_step);
  flags.scale_down_step = absl::GetFlag(FLAGS_scale_down_step);
  flags.step_period = absl::GetFlag(FLAGS_step_period);
  flags.interval = absl::GetFlag(FLAGS_interval);
  flags.count = absl::GetFlag(FLAGS_count);
  flags.once = absl::GetFlag(FLAGS_once);
  flags.sort = absl::GetFlag(FLAGS_sort);
  flags.follow = absl::GetFlag(FLAGS_follow);

  std::error_code error;
  const std::filesystem::path cwd = std::filesystem::current_path(error);
  absl::StatusOr<vmmd::vmmctl::Invocation> invocation =
      vmmd::vmmctl::BuildInvocation(*parsed, flags, error ? std::string() : cwd.string());
  if (!invocation.ok()) return UsageError(std::string(invocation.status().message()));
  invocation->terminal = ::isatty(STDOUT_FILENO) == 1;

  const vmmd::vmmctl::Outcome outcome =
      vmmd::vmmctl::Execute(*invocation, [](const std::string& line) {
        std::fwrite(line.data(), 1, line.size(), stdout);  // console output may hold NULs
        std::fflush(stdout);
      });
  std::fwrite(outcome.out.data(), 1, outcome.out.size(), stdout);  // `console` may print NULs
  std::fputs(outcome.err.c_str(), stderr);
  return outcome.exit_code;
}
