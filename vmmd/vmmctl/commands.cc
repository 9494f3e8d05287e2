#include "vmmd/vmmctl/commands.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "vmmd/endpoint/defaults.h"
#include "vmmd/vmmctl/call.h"
#include "vmmd/vmmctl/format.h"

namespace vmmd::vmmctl {
namespace {

constexpr absl::string_view kUnixScheme = "unix:";
constexpr absl::string_view kGlobalFlags[] = {"socket", "server",   "tls_cert", "tls_key",
                                              "tls_ca", "insecure", "json",     "timeout"};

std::string Absolute(const std::string& path, const std::string& cwd) {
  if (path.empty() || path[0] == '/') return path;
  if (cwd.empty() || cwd.back() == '/') return cwd + path;
  return absl::StrCat(cwd, "/", path);
}

std::string SocketPath(const std::string& socket) {
  return absl::StartsWith(socket, kUnixScheme) ? socket.substr(kUnixScheme.size()) : socket;
}

absl::Status Usage(absl::string_view problem) { return absl::InvalidArgumentError(problem); }

absl::Status NoFlags(const FlagValues&, const std::string&, Invocation&) {
  return absl::OkStatus();
}

// The policy flags every command that sets a policy takes.
constexpr absl::string_view kPolicyFlags[] = {"min",
                                              "max",
                                              "target_utilization",
                                              "tolerance",
                                              "scale_up_stabilization",
                                              "scale_down_stabilization",
                                              "scale_up_step",
                                              "scale_down_step",
                                              "step_period"};

void SetSeconds(double seconds, google::protobuf::Duration* out) {
  const absl::Duration d = absl::Seconds(seconds);
  absl::Duration rest;
  out->set_seconds(absl::IDivDuration(d, absl::Seconds(1), &rest));
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(rest)));
}

// The policy the flags describe, `mode` given as auto|recommend|off by `mode_flag`. Ranges are
// vmmd's to check (it names the field); here only what cannot be sent at all.
absl::StatusOr<v1::AutoscalePolicy> PolicyFromFlags(const FlagValues& flags,
                                                    absl::string_view command,
                                                    absl::string_view mode_flag,
                                                    const std::string& mode) {
  v1::AutoscalePolicy p;
  if (mode == "auto") {
    p.set_mode(v1::AUTOSCALE_MODE_AUTO);
  } else if (mode == "recommend") {
    p.set_mode(v1::AUTOSCALE_MODE_RECOMMEND);
  } else if (mode == "off") {
    p.set_mode(v1::AUTOSCALE_MODE_OFF);
  } else {
    return Usage(absl::StrCat(command, ": --", mode_flag, " must be auto, recommend or off (got '",
                              mode, "')"));
  }
  p.set_min_vcpus(flags.min);
  p.set_max_vcpus(flags.max);
  p.set_target_utilization(flags.target_utilization);
  if (flags.given.contains("tolerance")) p.set_tolerance(flags.tolerance);
  p.set_scale_up_max_step(flags.scale_up_step);
  p.set_scale_down_max_step(flags.scale_down_step);
  struct {
    const char* flag;
    double value;
    google::protobuf::Duration* (v1::AutoscalePolicy::*field)();
  } windows[] = {
      {"scale_up_stabilization", flags.scale_up_stabilization,
       &v1::AutoscalePolicy::mutable_scale_up_stabilization},
      {"scale_down_stabilization", flags.scale_down_stabilization,
       &v1::AutoscalePolicy::mutable_scale_down_stabilization},
      {"step_period", flags.step_period, &v1::AutoscalePolicy::mutable_step_period},
  };
  for (const auto& w : windows) {
    if (!flags.given.contains(w.flag)) continue;
    if (!std::isfinite(w.value) || w.value < 0 || w.value > 1e6) {
      return Usage(
          absl::StrCat(command, ": --", w.flag, " must be a number of seconds in [0, 1000000]"));
    }
    SetSeconds(w.value, (p.*w.field)());
  }
  return p;
}

absl::Status PrepareAutoscale(const FlagValues& flags, const std::string&, Invocation& inv) {
  absl::StatusOr<v1::AutoscalePolicy> p = PolicyFromFlags(flags, "autoscale", "mode", flags.mode);
  if (!p.ok()) return p.status();
  inv.has_policy = true;
  inv.policy = *std::move(p);
  return absl::OkStatus();
}

absl::Status PrepareCreate(const FlagValues& flags, const std::string& cwd, Invocation& inv) {
  // Without --kernel, --firmware boots the VM from its disk.
  if (flags.given.contains("kernel") && flags.kernel.empty()) {
    return Usage("create: --kernel must not be empty");
  }
  if (flags.kernel.empty() && flags.firmware.empty()) {
    return Usage("create: --kernel is required (or --firmware and a --disk to boot from)");
  }
  v1::VmSpec& spec = inv.spec;
  spec.set_name(inv.name);
  if (!flags.kernel.empty()) spec.set_kernel_path(Absolute(flags.kernel, cwd));
  spec.set_initrd_path(Absolute(flags.initrd, cwd));
  spec.set_cmdline(flags.cmdline);
  spec.set_firmware_path(Absolute(flags.firmware, cwd));
  if (flags.boot == "dt") {
    spec.set_boot_mode(v1::BOOT_MODE_DEVICE_TREE);
  } else if (flags.boot == "uefi") {
    spec.set_boot_mode(v1::BOOT_MODE_UEFI);
  } else if (flags.boot == "acpi-direct") {
    spec.set_boot_mode(v1::BOOT_MODE_ACPI_DIRECT);
  } else if (!flags.boot.empty()) {
    return Usage(
        absl::StrCat("create: --boot must be dt, uefi or acpi-direct, got '", flags.boot, "'"));
  }
  spec.set_memory_mib(flags.memory_mib);
  spec.set_boot_vcpus(flags.vcpus);
  spec.set_max_vcpus(flags.max_vcpus);
  spec.set_start_vcpus(flags.start_vcpus);
  for (const std::string& d : flags.disks) {
    // PATH[,ro][,serial=ID]: the options after the first comma.
    std::vector<std::string> parts = absl::StrSplit(d, ',');
    if (parts[0].empty()) return Usage("create: --disk needs a PATH (PATH[,ro][,serial=ID])");
    v1::Disk* disk = spec.add_disks();
    disk->set_path(Absolute(parts[0], cwd));
    for (size_t i = 1; i < parts.size(); ++i) {
      if (parts[i] == "ro") {
        disk->set_read_only(true);
      } else if (absl::StartsWith(parts[i], "serial=")) {
        disk->set_serial(parts[i].substr(7));
      } else {
        return Usage(absl::StrCat("create: --disk option '", parts[i],
                                  "' is not ro or serial=ID (PATH[,ro][,serial=ID])"));
      }
    }
  }
  for (const std::string& n : flags.nics) {
    // tap=NAME[,mac=MAC]
    v1::Nic* nic = spec.add_nics();
    for (const std::string& part : std::vector<std::string>(absl::StrSplit(n, ','))) {
      if (absl::StartsWith(part, "tap=")) {
        nic->set_tap(part.substr(4));
      } else if (absl::StartsWith(part, "mac=")) {
        nic->set_mac(part.substr(4));
      } else {
        return Usage(absl::StrCat("create: --net option '", part,
                                  "' is not tap=NAME or mac=MAC (tap=NAME[,mac=MAC])"));
      }
    }
    if (nic->tap().empty()) return Usage("create: --net needs tap=NAME (tap=NAME[,mac=MAC])");
  }
  spec.set_entropy(flags.entropy);
  if (flags.given.contains("autoscale")) {
    absl::StatusOr<v1::AutoscalePolicy> p =
        PolicyFromFlags(flags, "create", "autoscale", flags.autoscale);
    if (!p.ok()) return p.status();
    inv.has_policy = true;
    inv.policy = *std::move(p);
  } else {
    for (absl::string_view f : kPolicyFlags) {
      if (flags.given.contains(std::string(f))) {
        return Usage(absl::StrCat("create: --", f, " needs --autoscale"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status PrepareScale(const FlagValues& flags, const std::string&, Invocation& inv) {
  inv.target_vcpus = flags.vcpus;
  if (flags.wait == "online") {
    inv.wait = v1::SCALE_WAIT_ONLINE;
  } else if (flags.wait == "enabled") {
    inv.wait = v1::SCALE_WAIT_ENABLED;
  } else if (flags.wait == "none") {
    inv.wait = v1::SCALE_WAIT_NONE;
  } else {
    return Usage(
        absl::StrCat("scale: --wait must be online, enabled or none (got '", flags.wait, "')"));
  }
  // --timeout is how long the guest may take; the call itself gets a margin on top.
  inv.scale_timeout = flags.timeout_set ? inv.timeout : absl::Seconds(60);
  if (inv.scale_timeout > absl::Hours(1)) return Usage("scale: --timeout must be at most 3600");
  inv.timeout = inv.scale_timeout + absl::Seconds(10);
  return absl::OkStatus();
}

absl::Status PrepareStop(const FlagValues& flags, const std::string&, Invocation& inv) {
  inv.force = flags.force;
  if (inv.force) {
    if (flags.timeout_set) {
      return Usage(
          "stop: --timeout is how long the guest may take to power off; --force does "
          "not wait for it: drop one");
    }
    return absl::OkStatus();
  }
  // --timeout is how long the guest may take to power off; the call gets a margin on top.
  inv.stop_timeout = flags.timeout_set ? inv.timeout : absl::Seconds(30);
  if (inv.stop_timeout > absl::Minutes(10)) return Usage("stop: --timeout must be at most 600");
  inv.timeout = inv.stop_timeout + absl::Seconds(10);
  return absl::OkStatus();
}

absl::Status PrepareEvents(const FlagValues& flags, const std::string&, Invocation& inv) {
  inv.events_deadline = flags.timeout_set;
  return absl::OkStatus();
}

absl::Status PrepareTop(const FlagValues& flags, const std::string&, Invocation& inv) {
  if (!std::isfinite(flags.interval) || flags.interval <= 0 || flags.interval > 3600) {
    return Usage("top: --interval must be a number of seconds in (0, 3600]");
  }
  const bool count_given = flags.given.contains("count");
  if (count_given && flags.count < 1) return Usage("top: --count must be at least 1");
  if (count_given && flags.once) return Usage("top: --once and --count exclude each other");
  absl::StatusOr<TopSort> sort = ParseTopSort(flags.sort);
  if (!sort.ok()) return Usage(absl::StrCat("top: ", sort.status().message()));
  inv.top.interval = absl::Seconds(flags.interval);
  inv.top.count = count_given ? flags.count : 0;
  inv.top.once = flags.once;
  inv.top.sort = *sort;
  return absl::OkStatus();
}

// create / start / stop print "<name>: <STATE>" from the Vm the reply carries.
std::string Confirm(const Invocation& inv, const v1::Vm& vm) {
  return FormatConfirmation(vm.spec().name().empty() ? inv.name : vm.spec().name(),
                            VmStateLabel(vm.state()));
}

std::vector<Command> BuildTable() {
  using Stub = v1::Vmm::Stub;
  std::vector<Command> t;
  t.push_back({
      .name = "create",
      .flags = {"kernel",
                "initrd",
                "cmdline",
                "firmware",
                "boot",
                "disk",
                "net",
                "entropy",
                "memory_mib",
                "vcpus",
                "max_vcpus",
                "start_vcpus",
                "autoscale",
                "min",
                "max",
                "target_utilization",
                "tolerance",
                "scale_up_stabilization",
                "scale_down_stabilization",
                "scale_up_step",
                "scale_down_step",
                "step_period"},
      .required = {"memory_mib", "vcpus", "max_vcpus"},
      .usage =
          "  create NAME --kernel=FILE [--initrd=FILE] [--cmdline=TEXT] [--firmware=FILE]\n"
          "              [--boot=dt|uefi|acpi-direct] (default: uefi with --firmware, else dt;\n"
          "              uefi and acpi-direct guests can be scaled)\n"
          "              [--disk=FILE[,ro][,serial=ID] ...] (virtio disks: vda, vdb, ...)\n"
          "              [--net=tap=NAME[,mac=MAC] ...] (virtio NICs on host TAPs: eth0, ...)\n"
          "              [--entropy] (a virtio-rng device)\n"
          "              --memory-mib=N --vcpus=N --max-vcpus=N\n"
          "              [--start-vcpus=N] (available at the first start: the vCPUs above\n"
          "              --vcpus come up as hot-added ones, removable; uefi and acpi-direct)\n"
          "              [--autoscale=MODE [POLICY FLAGS]]   (as for autoscale)\n",
      .prepare = PrepareCreate,
      .run =
          [](const Invocation& inv, const ProgressFn&) {
            v1::CreateVmRequest request;
            *request.mutable_spec() = inv.spec;
            if (inv.has_policy) *request.mutable_autoscale() = inv.policy;
            return CallUnary<v1::CreateVmRequest, v1::Vm>(
                inv, &Stub::CreateVm, request, [&](const v1::Vm& vm) { return Confirm(inv, vm); });
          },
  });
  t.push_back({
      .name = "start",
      .usage = "  start NAME    boot a created or stopped VM\n",
      .prepare = NoFlags,
      .run =
          [](const Invocation& inv, const ProgressFn&) {
            return CallUnary<v1::StartVmRequest, v1::Vm>(
                inv, &Stub::StartVm, Named<v1::StartVmRequest>(inv),
                [&](const v1::Vm& vm) { return Confirm(inv, vm); });
          },
  });
  t.push_back({
      .name = "stop",
      .flags = {"force"},
      .usage = "  stop NAME [--force] [--timeout=SECONDS]\n"
               "                stop a running VM (it stays listed): press its ACPI power button\n"
               "                and wait up to --timeout (default 30, at most 600) for the guest\n"
               "                to power off, then stop it anyway; --force (or a VM booted\n"
               "                without firmware): at once\n",
      .prepare = PrepareStop,
      .run =
          [](const Invocation& inv, const ProgressFn&) {
            v1::StopVmRequest request = Named<v1::StopVmRequest>(inv);
            if (inv.force) {
              request.set_force(true);
            } else {
              SetSeconds(absl::ToDoubleSeconds(inv.stop_timeout), request.mutable_timeout());
            }
            return CallUnary<v1::StopVmRequest, v1::Vm>(
                inv, &Stub::StopVm, request, [&](const v1::Vm& vm) { return Confirm(inv, vm); });
          },
  });
  t.push_back({
      .name = "delete",
      .usage = "  delete NAME   stop the VM if it runs, then forget it\n",
      .prepare = NoFlags,
      .run =
          [](const Invocation& inv, const ProgressFn&) {
            return CallUnary<v1::DeleteVmRequest, v1::DeleteVmResponse>(
                inv, &Stub::DeleteVm, Named<v1::DeleteVmRequest>(inv),
                [&](const v1::DeleteVmResponse&) {
                  return FormatConfirmation(inv.name, "DELETED");
                });
          },
  });
  t.push_back({
      .name = "get",
      .usage = "  get NAME      show one VM\n",
      .prepare = NoFlags,
      .run =
          [](const Invocation& inv, const ProgressFn&) {
            return CallUnary<v1::GetVmRequest, v1::Vm>(
                inv, &Stub::GetVm, Named<v1::GetVmRequest>(inv), FormatVmDetails);
          },
  });
  t.push_back({
      .name = "list",
      .name_arg = NameArg::kNone,
      .usage = "  list          show every VM\n",
      .prepare = NoFlags,
      .run =
          [](const Invocation& inv, const ProgressFn&) {
            return CallUnary<v1::ListVmsRequest, v1::ListVmsResponse>(
                inv, &Stub::ListVms, v1::ListVmsRequest(), FormatVmList);
          },
  });
  t.push_back({
      .name = "cpus",
      .usage = "  cpus NAME     show every possible vCPU of a VM\n",
      .prepare = NoFlags,
      .run =
          [](const Invocation& inv, const ProgressFn&) {
            return CallUnary<v1::GetCPUStateRequest, v1::GetCPUStateResponse>(
                inv, &Stub::GetCPUState, Named<v1::GetCPUStateRequest>(inv), FormatCpuTable);
          },
  });
  t.push_back({
      .name = "top",
      .name_arg = NameArg::kNone,
      .flags = {"interval", "count", "once", "sort"},
      .usage = "  top [--interval=SECONDS] [--count=N | --once] [--sort=name|util|steal|vcpus]\n"
               "                every VM on one line, refreshed every interval (default 2 s,\n"
               "                at most 3600): vCPUs online/target/max, busy and steal % of the\n"
               "                online vCPUs over the interval, autoscale mode, recommendation\n"
               "                and last scale. Runs until Ctrl-C, or for N frames; --once: one\n"
               "                frame after one interval. Clears the screen on a terminal;\n"
               "                --json: one object per frame and line\n",
      .prepare = PrepareTop,
      .run = ExecuteTop,
  });
  t.push_back({
      .name = "scale",
      .flags = {"vcpus", "wait"},
      .required = {"vcpus"},
      .usage = "  scale NAME --vcpus=N [--wait=online|enabled|none] [--timeout=SECONDS]\n"
               "                make N vCPUs available to the running guest (hot-add / "
               "hot-remove),\n"
               "                printing each vCPU transition; waits (default: online, 60 s)\n",
      .prepare = PrepareScale,
      .run = ExecuteScale,
  });
  t.push_back({
      .name = "autoscale",
      .flags = {"mode", "min", "max", "target_utilization", "tolerance", "scale_up_stabilization",
                "scale_down_stabilization", "scale_up_step", "scale_down_step", "step_period"},
      .required = {"mode"},
      .usage =
          "  autoscale NAME --mode=auto|recommend|off [--min=N] [--max=N]\n"
          "              [--target-utilization=F] [--tolerance=F] [--scale-up-stabilization=S]\n"
          "              [--scale-down-stabilization=S] [--scale-up-step=N]\n"
          "              [--scale-down-step=N] [--step-period=S]\n"
          "                replace the VM's autoscaling policy (flags left out take vmmd's\n"
          "                defaults: boot..max vCPUs, target 0.7, tolerance 0.1, scale-up now,\n"
          "                scale-down window 300 s, at most +4/-1 vCPUs per 15 s); an autoscaler\n"
          "                (vmm-autoscaler) acts on it. S: seconds\n",
      .prepare = PrepareAutoscale,
      .run =
          [](const Invocation& inv, const ProgressFn&) {
            v1::SetAutoscalePolicyRequest request;
            request.set_name(inv.name);
            *request.mutable_policy() = inv.policy;
            return CallUnary<v1::SetAutoscalePolicyRequest, v1::Vm>(
                inv, &Stub::SetAutoscalePolicy, request, FormatAutoscalePolicyLine);
          },
  });
  t.push_back({
      .name = "console",
      .flags = {"follow"},
      .usage = "  console NAME [--follow]\n"
               "                print the VM's console log (kept by vmmd on its host; root\n"
               "                only); --follow: keep printing as it grows, across rotations,\n"
               "                until Ctrl-C (or --timeout when given)\n",
      .prepare =
          [](const FlagValues& flags, const std::string&, Invocation& inv) {
            inv.follow = flags.follow;
            inv.follow_deadline = flags.timeout_set;
            return absl::OkStatus();
          },
      .run = ExecuteConsole,
  });
  t.push_back({
      .name = "events",
      .name_arg = NameArg::kOptional,
      .usage = "  events [NAME] stream VM and vCPU lifecycle events (all VMs without NAME)\n",
      .prepare = PrepareEvents,
      .run = ExecuteEvents,
  });
  return t;
}

bool Takes(const Command& c, absl::string_view flag) {
  for (absl::string_view f : c.flags) {
    if (f == flag) return true;
  }
  return false;
}

const Command* Find(absl::string_view name) {
  for (const Command& c : Commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// "--vcpus is only for create and scale".
std::string OnlyFor(absl::string_view flag) {
  std::vector<std::string> takers;
  for (const Command& c : Commands()) {
    if (Takes(c, flag)) takers.emplace_back(c.name);
  }
  return absl::StrCat("--", flag, " is only for ", absl::StrJoin(takers, " and "));
}

}  // namespace

const std::vector<Command>& Commands() {
  static const std::vector<Command>* const kTable = new std::vector<Command>(BuildTable());
  return *kTable;
}

std::vector<std::string> KnownFlags() {
  std::vector<std::string> known(std::begin(kGlobalFlags), std::end(kGlobalFlags));
  for (const Command& c : Commands()) {
    for (absl::string_view f : c.flags) {
      if (std::find(known.begin(), known.end(), f) == known.end()) known.emplace_back(f);
    }
  }
  return known;
}

std::string UsageText() {
  std::string commands;
  for (const Command& c : Commands()) absl::StrAppend(&commands, c.usage);
  return absl::StrCat(
      "Usage: vmmctl [--socket=PATH | --server=unix:PATH|tcp://HOST:PORT] [--json]\n"
      "              [--timeout=SECONDS] COMMAND [ARGS]\n"
      "Commands:\n",
      commands,
      "Flags:\n"
      "  --socket=PATH      vmmd's API socket (default ",
      endpoint::kDefaultSocketPath,
      ")\n"
      "  --server=ADDRESS   unix:PATH or tcp://HOST:PORT (instead of --socket); over TCP\n"
      "                     mutual TLS: --tls_ca=FILE (vmmd's CA), --tls_cert=FILE and\n"
      "                     --tls_key=FILE (this client's), or --insecure (loopback only)\n"
      "  --json             print the response message as JSON (proto field names)\n"
      "  --timeout=SECONDS  deadline of the call (default 30; scale, stop: how long to wait)\n"
      "Relative FILE paths are made absolute against the current directory.\n");
}

absl::StatusOr<Invocation> BuildInvocation(const ParsedArgs& args, const FlagValues& flags,
                                           const std::string& cwd) {
  if (args.positional.empty()) return Usage("missing COMMAND");
  const Command* command = Find(args.positional[0]);
  if (command == nullptr) {
    return Usage(absl::StrCat("unknown command '", args.positional[0], "'"));
  }
  Invocation inv;
  inv.command = std::string(command->name);
  const size_t want = command->name_arg == NameArg::kNone ? 1 : 2;
  if (args.positional.size() < want && command->name_arg == NameArg::kRequired) {
    return Usage(absl::StrCat(inv.command, ": missing NAME"));
  }
  if (args.positional.size() > want) {
    return Usage(absl::StrCat(inv.command, ": unexpected argument '", args.positional[want], "'"));
  }
  if (want == 2 && args.positional.size() == 2) inv.name = args.positional[1];
  // Flags another command takes, in the order the table names them.
  for (const std::string& flag : KnownFlags()) {
    if (!args.flags_set.contains(flag) || Takes(*command, flag)) continue;
    if (std::find(std::begin(kGlobalFlags), std::end(kGlobalFlags), flag) !=
        std::end(kGlobalFlags)) {
      continue;
    }
    return Usage(absl::StrCat(inv.command, ": ", OnlyFor(flag)));
  }
  for (absl::string_view flag : command->required) {
    if (!args.flags_set.contains(std::string(flag))) {
      return Usage(absl::StrCat(inv.command, ": --", flag, " is required"));
    }
  }
  if (flags.socket.empty() || SocketPath(flags.socket).empty()) {
    return Usage("--socket must not be empty");
  }
  if (args.flags_set.contains("server") && args.flags_set.contains("socket")) {
    return Usage("--server and --socket name the same thing: give one");
  }
  const bool server_given = args.flags_set.contains("server");
  absl::StatusOr<endpoint::Address> address = endpoint::ParseAddress(
      server_given ? flags.server : flags.socket, server_given ? "--server" : "--socket");
  if (!address.ok()) return Usage(address.status().message());
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      endpoint::ChannelCredentialsFor(*address, flags.tls, flags.insecure);
  if (!credentials.ok()) return Usage(credentials.status().message());
  inv.address = *address;
  inv.credentials = *std::move(credentials);
  if (!std::isfinite(flags.timeout_seconds) || flags.timeout_seconds <= 0 ||
      flags.timeout_seconds > 1e6) {
    return Usage("--timeout must be a number of seconds in (0, 1000000]");
  }
  inv.socket = server_given ? address->ToString() : flags.socket;
  inv.timeout = absl::Seconds(flags.timeout_seconds);
  inv.json = flags.json;
  FlagValues given = flags;
  given.given = args.flags_set;
  if (absl::Status s = command->prepare(given, cwd, inv); !s.ok()) return s;
  return inv;
}

}  // namespace vmmd::vmmctl
