// vmmctl's subcommands: from parsed arguments to one RPC and its printed result.
#pragma once

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
  std::string kernel, initrd, cmdline, firmware, console_log;
  uint64_t memory_mib = 0;
  uint32_t vcpus = 0;
  uint32_t max_vcpus = 0;
};

// One validated request.
struct Invocation {
  std::string command;  // create | start | stop | delete | get | list | cpus
  std::string name;     // empty for list
  v1::VmSpec spec;      // create only; paths made absolute
  std::string socket;   // as given (a path, or "unix:PATH")
  absl::Duration timeout;
  bool json = false;
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

// Connects to vmmd, makes the call with the invocation's deadline, formats the result.
Outcome Execute(const Invocation& invocation);

// The usage text (ends with '\n').
std::string UsageText();

}  // namespace vmmd::vmmctl
