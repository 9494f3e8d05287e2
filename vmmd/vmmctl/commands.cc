#include "vmmd/vmmctl/commands.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "vmmd/endpoint/defaults.h"

namespace vmmd::vmmctl {
namespace {

constexpr absl::string_view kUnixScheme = "unix:";
constexpr const char* kCreateFlags[] = {"kernel",     "initrd",    "cmdline",    "firmware",
                                        "memory_mib", "max_vcpus", "console_log"};

std::string Absolute(const std::string& path, const std::string& cwd) {
  if (path.empty() || path[0] == '/') return path;
  if (cwd.empty() || cwd.back() == '/') return cwd + path;
  return absl::StrCat(cwd, "/", path);
}

std::string SocketPath(const std::string& socket) {
  return absl::StartsWith(socket, kUnixScheme) ? socket.substr(kUnixScheme.size()) : socket;
}

absl::Status Usage(absl::string_view problem) { return absl::InvalidArgumentError(problem); }

}  // namespace

std::string UsageText() {
  return absl::StrCat(
      "Usage: vmmctl [--socket=PATH] [--json] [--timeout=SECONDS] COMMAND [ARGS]\n"
      "Commands:\n"
      "  create NAME --kernel=FILE [--initrd=FILE] [--cmdline=TEXT] [--firmware=FILE]\n"
      "              --memory-mib=N --vcpus=N --max-vcpus=N [--console-log=FILE]\n"
      "  start NAME    boot a created or stopped VM\n"
      "  stop NAME     stop a running VM (it stays listed)\n"
      "  delete NAME   stop the VM if it runs, then forget it\n"
      "  get NAME      show one VM\n"
      "  list          show every VM\n"
      "  cpus NAME     show every possible vCPU of a VM\n"
      "  scale NAME --vcpus=N [--wait=online|enabled|none] [--timeout=SECONDS]\n"
      "                make N vCPUs available to the running guest (hot-add / hot-remove),\n"
      "                printing each vCPU transition; waits (default: online, 60 s)\n"
      "  events [NAME] stream VM and vCPU lifecycle events (all VMs without NAME)\n"
      "Flags:\n"
      "  --socket=PATH      vmmd's API socket (default ",
      endpoint::kDefaultSocketPath,
      ")\n"
      "  --json             print the response message as JSON (proto field names)\n"
      "  --timeout=SECONDS  deadline of the call (default 30; scale: how long to wait)\n"
      "Relative FILE paths are made absolute against the current directory.\n");
}

absl::StatusOr<Invocation> BuildInvocation(const ParsedArgs& args, const FlagValues& flags,
                                           const std::string& cwd) {
  if (args.positional.empty()) return Usage("missing COMMAND");
  Invocation inv;
  inv.command = args.positional[0];
  const bool known = inv.command == "create" || inv.command == "start" || inv.command == "stop" ||
                     inv.command == "delete" || inv.command == "get" || inv.command == "list" ||
                     inv.command == "cpus" || inv.command == "scale" || inv.command == "events";
  if (!known) return Usage(absl::StrCat("unknown command '", inv.command, "'"));
  const size_t want = inv.command == "list" ? 1 : 2;
  const bool name_optional = inv.command == "events";
  if (args.positional.size() < want && !name_optional) {
    return Usage(absl::StrCat(inv.command, ": missing NAME"));
  }
  if (args.positional.size() > want) {
    return Usage(absl::StrCat(inv.command, ": unexpected argument '", args.positional[want], "'"));
  }
  if (want == 2 && args.positional.size() == 2) inv.name = args.positional[1];
  if (inv.command != "create") {
    for (const char* flag : kCreateFlags) {
      if (args.flags_set.contains(flag)) {
        return Usage(absl::StrCat(inv.command, ": --", flag, " is only for create"));
      }
    }
  }
  if (inv.command != "create" && inv.command != "scale" && args.flags_set.contains("vcpus")) {
    return Usage(absl::StrCat(inv.command, ": --vcpus is only for create and scale"));
  }
  if (inv.command != "scale" && args.flags_set.contains("wait")) {
    return Usage(absl::StrCat(inv.command, ": --wait is only for scale"));
  }
  if (inv.command == "scale") {
    if (!args.flags_set.contains("vcpus")) return Usage("scale: --vcpus is required");
    inv.target_vcpus = flags.vcpus;
    if (flags.wait == "online") {
      inv.wait = v1::SCALE_WAIT_ONLINE;
    } else if (flags.wait == "enabled") {
      inv.wait = v1::SCALE_WAIT_ENABLED;
    } else if (flags.wait == "none") {
      inv.wait = v1::SCALE_WAIT_NONE;
    } else {
      return Usage(absl::StrCat("scale: --wait must be online, enabled or none (got '",
                                flags.wait, "')"));
    }
  } else if (inv.command == "create") {
    for (const char* flag : {"kernel", "memory_mib", "vcpus", "max_vcpus"}) {
      if (!args.flags_set.contains(flag)) {
        return Usage(absl::StrCat("create: --", flag, " is required"));
      }
    }
    if (flags.kernel.empty()) return Usage("create: --kernel must not be empty");
    v1::VmSpec& spec = inv.spec;
    spec.set_name(inv.name);
    spec.set_kernel_path(Absolute(flags.kernel, cwd));
    spec.set_initrd_path(Absolute(flags.initrd, cwd));
    spec.set_cmdline(flags.cmdline);
    spec.set_firmware_path(Absolute(flags.firmware, cwd));
    spec.set_memory_mib(flags.memory_mib);
    spec.set_boot_vcpus(flags.vcpus);
    spec.set_max_vcpus(flags.max_vcpus);
    spec.set_console_log_path(Absolute(flags.console_log, cwd));
  }
  if (flags.socket.empty() || SocketPath(flags.socket).empty()) {
    return Usage("--socket must not be empty");
  }
  if (!std::isfinite(flags.timeout_seconds) || flags.timeout_seconds <= 0 ||
      flags.timeout_seconds > 1e6) {
    return Usage("--timeout must be a number of seconds in (0, 1000000]");
  }
  inv.socket = flags.socket;
  inv.timeout = absl::Seconds(flags.timeout_seconds);
  if (inv.command == "scale") {
    // --timeout is how long the guest may take; the call itself gets a margin on top.
    inv.scale_timeout = flags.timeout_set ? inv.timeout : absl::Seconds(60);
    if (inv.scale_timeout > absl::Hours(1)) return Usage("scale: --timeout must be at most 3600");
    inv.timeout = inv.scale_timeout + absl::Seconds(10);
  }
  inv.events_deadline = inv.command == "events" && flags.timeout_set;
  inv.json = flags.json;
  return inv;
}

}  // namespace vmmd::vmmctl
