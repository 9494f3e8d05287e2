// The host kernel's command line (/proc/cmdline): finding one parameter's value the way the
// kernel's own parser does (Documentation/admin-guide/kernel-parameters.rst): parameters are
// separated by spaces, a value may be double-quoted, '-' and '_' are the same in a name, and
// when a parameter is given twice the last one counts.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace vmmd {

// The value of parameter `name` ("" for a bare `name`), or nullopt when it is absent.
std::optional<std::string> KernelParameter(std::string_view cmdline, std::string_view name);

// /proc/cmdline of the running host.
absl::StatusOr<std::string> ReadHostKernelCmdline();

}  // namespace vmmd
