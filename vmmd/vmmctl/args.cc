#include "vmmd/vmmctl/args.h"

#include <algorithm>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"

namespace vmmd::vmmctl {
namespace {

absl::CommandLineFlag* Find(const std::string& name, const std::vector<std::string>& known) {
  if (std::find(known.begin(), known.end(), name) == known.end()) return nullptr;
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  return flag != nullptr && !flag->IsRetired() ? flag : nullptr;
}

absl::Status SetFlag(absl::CommandLineFlag* flag, absl::string_view value,
                     absl::string_view spelled) {
  std::string error;
  if (!flag->ParseFrom(value, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad value '", value, "' for ", spelled, ": ", error));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                                     const std::vector<std::string>& known) {
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      parsed.positional.insert(parsed.positional.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      parsed.positional.push_back(arg);
      continue;
    }
    if (arg == "-h" || arg == "--help" || arg == "-help") {
      parsed.help = true;
      continue;
    }
    absl::string_view body = absl::string_view(arg).substr(arg[1] == '-' ? 2 : 1);
    const size_t eq = body.find('=');
    const bool has_value = eq != absl::string_view::npos;
    const std::string name = absl::StrReplaceAll(body.substr(0, eq), {{"-", "_"}});
    const std::string spelled = absl::StrCat("--", body.substr(0, eq));
    absl::CommandLineFlag* flag = Find(name, known);
    if (flag == nullptr && !has_value && absl::StartsWith(name, "no")) {
      // --noNAME for a boolean NAME.
      absl::CommandLineFlag* negated = Find(name.substr(2), known);
      if (negated != nullptr && negated->IsOfType<bool>()) {
        if (absl::Status s = SetFlag(negated, "false", spelled); !s.ok()) return s;
        parsed.flags_set.insert(name.substr(2));
        continue;
      }
    }
    if (flag == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag ", spelled));
    std::string value;
    if (has_value) {
      value = std::string(body.substr(eq + 1));
    } else if (flag->IsOfType<bool>()) {
      value = "true";
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat(spelled, " needs a value"));
    }
    if (absl::Status s = SetFlag(flag, value, spelled); !s.ok()) return s;
    parsed.flags_set.insert(name);
    parsed.values[name].push_back(std::move(value));
  }
  return parsed;
}

}  // namespace vmmd::vmmctl
