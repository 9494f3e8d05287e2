// vmmctl's command line: absl flags mixed with positional arguments, parsed without ever
// exiting the process (absl::ParseCommandLine exits with status 1 on a bad flag; vmmctl
// reports usage errors with status 2).
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"

namespace vmmd::vmmctl {

struct ParsedArgs {
  std::vector<std::string> positional;         // in order, program name excluded
  absl::flat_hash_set<std::string> flags_set;  // canonical names given on the command line
  // Every value given, per canonical name, in order: a repeatable flag (create --disk) reads
  // them all (the absl flag keeps the last).
  absl::flat_hash_map<std::string, std::vector<std::string>> values;
  bool help = false;                           // -h / --help
};

// Parses `args` (argv without the program name) into the absl flags named in `known` (the
// only ones accepted; their values are set with CommandLineFlag::ParseFrom).
//   --name=value  --name value  -name=value   value flags
//   --name  --noname  --name=true|false       boolean flags
//   --                                        the rest is positional
// Dashes in a flag name stand for underscores: --memory-mib is --memory_mib.
// INVALID_ARGUMENT (a usage error) for an unknown flag, a missing value or a bad value.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                                     const std::vector<std::string>& known);

}  // namespace vmmd::vmmctl
