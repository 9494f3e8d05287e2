#include "core/common/kernel_cmdline.h"

#include <cerrno>
#include <fstream>
#include <iterator>

#include "core/common/errno_status.h"

namespace vmmd {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n'; }

char Normalized(char c) { return c == '-' ? '_' : c; }

bool SameName(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Normalized(a[i]) != Normalized(b[i])) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> KernelParameter(std::string_view cmdline, std::string_view name) {
  std::optional<std::string> found;
  size_t i = 0;
  while (i < cmdline.size()) {
    while (i < cmdline.size() && IsSpace(cmdline[i])) ++i;
    if (i == cmdline.size()) break;
    // One parameter: a space ends it unless inside double quotes (the quotes are dropped).
    std::string param;
    bool quoted = false;
    for (; i < cmdline.size() && (quoted || !IsSpace(cmdline[i])); ++i) {
      if (cmdline[i] == '"') {
        quoted = !quoted;
      } else {
        param.push_back(cmdline[i]);
      }
    }
    const size_t equals = param.find('=');
    const std::string_view key = std::string_view(param).substr(0, equals);
    if (SameName(key, name)) {
      found = equals == std::string::npos ? std::string() : param.substr(equals + 1);
    }
  }
  return found;
}

absl::StatusOr<std::string> ReadHostKernelCmdline() {
  std::ifstream in("/proc/cmdline");
  if (!in) return ErrnoStatus(errno, "open /proc/cmdline");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace vmmd
