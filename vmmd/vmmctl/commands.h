// vmmctl's subcommands: from parsed arguments to one RPC and its printed result.
#pragma once

#include <functional>

#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vmmd/v1/vmm.pb.h"
#include "vmmd/vmmctl/args.h"

namespace vmmd::vmmctl {

// The values of vmmctl's flags (read from absl by main()).
struct FlagValues {
  std::string socket;
  bool json = false;
  double timeout_seconds = 30;
  bool timeout_set = false;     // --timeout given explicitly
  std::string wait = "online";  // scale: online | enabled | none
  std::string kernel, initrd, cmdline, firmware, console_log;
  uint64_t memory_mib = 0;
  uint32_t vcpus = 0;
  uint32_t max_vcpus = 0;
};

// One validated request.
struct Invocation {
  std::string command;  // create | start | stop | delete | get | list | cpus | scale | events
  std::string name;     // empty for list (and for events on every VM)
  v1::VmSpec spec;      // create only; paths made absolute
  std::string socket;   // as given (a path, or "unix:PATH")
  absl::Duration timeout;  // the call's deadline (scale: the wait plus a margin)
  bool json = false;
  // scale
  uint32_t target_vcpus = 0;
  v1::ScaleWait wait = v1::SCALE_WAIT_ONLINE;
  absl::Duration scale_timeout = absl::Seconds(60);
  // events: stream until interrupted, or until --timeout if it was given
  bool events_deadline = false;
};

// Checks the subcommand, its NAME and which flags it takes, and turns relative paths into
// absolute ones against `cwd`. INVALID_ARGUMENT with a one-line reason for a usage error.
absl::StatusOr<Invocation> BuildInvocation(const ParsedArgs& args, const FlagValues& flags,
                                           const std::string& cwd);

// What vmmctl prints and its exit status.
struct Outcome {
  int exit_code = 0;  // 0 ok, 1 the RPC failed
  std::string out;
  std::string err;
};

// Receives progress lines while a call runs (scale) and streamed events (events).
using ProgressFn = std::function<void(const std::string& line)>;

// Connects to vmmd, makes the call with the invocation's deadline, formats the result.
Outcome Execute(const Invocation& invocation, const ProgressFn& progress = nullptr);

// scale / events (stream.cc): the RPC plus the WatchEvents stream that reports progress.
Outcome ExecuteScale(const Invocation& invocation, const ProgressFn& progress);
Outcome ExecuteEvents(const Invocation& invocation, const ProgressFn& progress);

// The usage text (ends with '\n').
std::string UsageText();

}  // namespace vmmd::vmmctl
