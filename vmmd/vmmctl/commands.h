// vmmctl's commands, as a table: one row per command says its NAME argument, its flags, its
// usage, how it fills the request and how it calls vmmd and prints the answer. Parsing checks,
// the usage text and dispatch are derived from the table, so a new RPC is one row plus its
// formatter (format.h).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "vmmd/endpoint/transport.h"
#include "vmmd/v1/vmm.pb.h"
#include "vmmd/vmmctl/args.h"
#include "vmmd/vmmctl/top.h"

namespace vmmd::vmmctl {

// The values of vmmctl's flags (read from absl by main()).
struct FlagValues {
  std::string socket;
  // --server=unix:PATH|tcp://HOST:PORT (wins over --socket) and its TLS (endpoint/transport.h).
  std::string server;
  endpoint::TlsFiles tls;
  bool insecure = false;
  bool json = false;
  double timeout_seconds = 30;
  bool timeout_set = false;     // --timeout given explicitly
  std::string wait = "online";  // scale: online | enabled | none
  bool force = false;           // stop: at once, without the ACPI power button
  std::string kernel, initrd, cmdline, firmware;
  std::string boot;                // create: dt | uefi | acpi-direct; empty: the default
  std::vector<std::string> disks;  // create: each --disk=PATH[,ro][,serial=ID], in order
  std::vector<std::string> nics;   // create: each --net=tap=NAME[,mac=MAC], in order
  bool entropy = false;            // create: --entropy
  uint64_t memory_mib = 0;
  uint32_t vcpus = 0;
  uint32_t max_vcpus = 0;
  uint32_t start_vcpus = 0;
  // autoscale (--mode) and create (--autoscale): the policy
  std::string mode, autoscale;
  uint32_t min = 0, max = 0, scale_up_step = 0, scale_down_step = 0;
  double target_utilization = 0, tolerance = 0;
  double scale_up_stabilization = 0, scale_down_stabilization = 0, step_period = 0;  // seconds
  // console
  bool follow = false;
  // top
  double interval = 2;  // seconds
  uint32_t count = 0;
  bool once = false;
  std::string sort = "name";
  // The flags given on the command line (an explicit 0 differs from "unset"); BuildInvocation
  // fills it from the parsed arguments.
  absl::flat_hash_set<std::string> given;
};

// One validated request.
struct Invocation {
  std::string command;     // the row's name
  std::string name;        // NAME, empty when the command takes none (or it was left out)
  v1::VmSpec spec;         // create only; paths made absolute
  // create (with --autoscale) and autoscale
  bool has_policy = false;
  v1::AutoscalePolicy policy;
  std::string socket;         // where vmmd is, for messages: a path, "unix:PATH" or "tcp://H:P"
  endpoint::Address address;  // where vmmd is
  // How to reach it (mTLS over TCP); null: insecure (a Unix socket).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  absl::Duration timeout;  // the call's deadline (scale: the wait plus a margin)
  bool json = false;
  // scale
  uint32_t target_vcpus = 0;
  v1::ScaleWait wait = v1::SCALE_WAIT_ONLINE;
  absl::Duration scale_timeout = absl::Seconds(60);
  // stop: at once (force), or how long the guest may take to power off after the power button
  bool force = false;
  absl::Duration stop_timeout = absl::Seconds(30);
  // events: stream until interrupted, or until --timeout if it was given
  bool events_deadline = false;
  // console: keep printing as the log grows; until --timeout if it was given
  bool follow = false;
  bool follow_deadline = false;
  // top (json above; clear_screen is decided from `terminal`)
  TopOptions top;
  // stdout is a terminal (main sets it): top clears the screen before each frame.
  bool terminal = false;
};

// What vmmctl prints and its exit status.
struct Outcome {
  int exit_code = 0;  // 0 ok, 1 the RPC failed
  std::string out;
  std::string err;
};

// Receives progress lines while a call runs (scale) and streamed events (events).
using ProgressFn = std::function<void(const std::string& line)>;

enum class NameArg { kNone, kRequired, kOptional };

struct Command {
  absl::string_view name;
  NameArg name_arg = NameArg::kRequired;
  std::vector<absl::string_view> flags = {};     // its own flags (canonical names), beyond the
                                                 // global ones
  std::vector<absl::string_view> required = {};  // those of them it cannot do without
  absl::string_view usage = "";                  // its lines of the usage text, '\n'-terminated
  // Fills the command's part of the invocation from its flags (paths made absolute against
  // `cwd`); INVALID_ARGUMENT with a one-line reason for a usage error.
  std::function<absl::Status(const FlagValues& flags, const std::string& cwd, Invocation& inv)>
      prepare = nullptr;
  // Connects to vmmd, makes the call(s) with the invocation's deadline, formats the result.
  std::function<Outcome(const Invocation& inv, const ProgressFn& progress)> run = nullptr;
};

// Every command, in the order the usage lists them.
const std::vector<Command>& Commands();
// Every flag vmmctl accepts: the global ones (socket, json, timeout) and every command's.
std::vector<std::string> KnownFlags();

// Checks the subcommand, its NAME and which flags it takes, and fills the invocation.
// INVALID_ARGUMENT with a one-line reason for a usage error.
absl::StatusOr<Invocation> BuildInvocation(const ParsedArgs& args, const FlagValues& flags,
                                           const std::string& cwd);

// Runs the invocation's command.
Outcome Execute(const Invocation& invocation, const ProgressFn& progress = nullptr);

// The usage text (ends with '\n').
std::string UsageText();

}  // namespace vmmd::vmmctl
