#include "acpi/testing/acpica_tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace vmmd::acpi::testing {
namespace {

std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

absl::StatusOr<TempDir> TempDir::Create() {
  const char* tmp = getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/vmmd-acpi-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", pattern, " failed"));
  }
  return TempDir(pattern);
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

absl::Status WriteFile(const std::string& path, absl::Span<const uint8_t> bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

absl::StatusOr<ToolRun> Run(const std::string& dir, const std::vector<std::string>& argv) {
  std::string cmd = absl::StrCat("cd ", ShellQuote(dir), " &&");
  for (const std::string& arg : argv) absl::StrAppend(&cmd, " ", ShellQuote(arg));
  absl::StrAppend(&cmd, " </dev/null 2>&1");
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("popen failed: ", cmd));
  ToolRun run;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) run.output.append(buf, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

absl::StatusOr<Disassembly> Disassemble(const TempDir& dir, std::string_view name,
                                        absl::Span<const uint8_t> table) {
  const std::string base(name);
  const std::string dat = base + ".dat";
  absl::Status s = WriteFile(absl::StrCat(dir.path(), "/", dat), table);
  if (!s.ok()) return s;
  Disassembly d;
  absl::StatusOr<ToolRun> run = Run(dir.path(), {VMMD_IASL_PATH, "-d", dat});
  if (!run.ok()) return run.status();
  d.run = *std::move(run);
  absl::StatusOr<std::string> dsl = ReadFile(dir.path() + "/" + base + ".dsl");
  if (dsl.ok()) d.dsl = *std::move(dsl);
  return d;
}

std::vector<std::string> DisassemblyProblems(const Disassembly& d) {
  static constexpr std::string_view kMarkers[] = {
      "error",      "warning", "remark",     "invalid", "incorrect", "unknown",  "external",
      "unresolved", "****",    "unexpected", "bad ",    "too short", "too long", "exceeds"};
  std::vector<std::string> problems;
  if (d.run.exit_code != 0) {
    problems.push_back(absl::StrFormat("iasl exited with %d", d.run.exit_code));
  }
  if (d.dsl.empty()) problems.push_back("iasl wrote no .dsl");
  for (const std::string* text : {&d.run.output, &d.dsl}) {
    for (absl::string_view piece : absl::StrSplit(*text, '\n')) {
      const std::string line(piece);
      // The banner ("Copyright ... Intel Corporation", the version) is not a finding.
      if (line.find("Copyright") != std::string::npos ||
          line.find("Compiler/Disassembler") != std::string::npos) {
        continue;
      }
      const std::string lower = absl::AsciiStrToLower(line);
      for (std::string_view marker : kMarkers) {
        if (lower.find(marker) != std::string::npos) {
          problems.push_back(line);
          break;
        }
      }
    }
  }
  return problems;
}

absl::StatusOr<std::vector<uint8_t>> CompileAsl(const TempDir& dir, std::string_view asl) {
  absl::Status s = WriteFile(
      absl::StrCat(dir.path(), "/golden.asl"),
      absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(asl.data()), asl.size()));
  if (!s.ok()) return s;
  absl::StatusOr<ToolRun> run =
      Run(dir.path(), {VMMD_IASL_PATH, "-on", "-p", "golden", "golden.asl"});
  if (!run.ok()) return run.status();
  if (run->exit_code != 0 || !absl::StrContains(run->output, " 0 Errors, 0 Warnings")) {
    return absl::InternalError(absl::StrCat("iasl failed to compile:\n", run->output));
  }
  absl::StatusOr<std::string> aml = ReadFile(absl::StrCat(dir.path(), "/golden.aml"));
  if (!aml.ok()) return aml.status();
  return std::vector<uint8_t>(aml->begin(), aml->end());
}

absl::StatusOr<ToolRun> AcpiExec(const TempDir& dir,
                                 const std::vector<std::vector<uint8_t>>& tables,
                                 std::string_view commands, uint8_t region_fill) {
  std::vector<std::string> argv{VMMD_ACPIEXEC_PATH, "-fv", absl::StrFormat("0x%02x", region_fill),
                                "-b", std::string(commands)};
  for (size_t i = 0; i < tables.size(); ++i) {
    const std::string name = absl::StrFormat("table%u.aml", i);
    absl::Status s = WriteFile(dir.path() + "/" + name, tables[i]);
    if (!s.ok()) return s;
    argv.push_back(name);
  }
  return Run(dir.path(), argv);
}

std::vector<Evaluation> ParseAcpiExec(const std::string& output) {
  std::vector<Evaluation> out;
  for (absl::string_view piece : absl::StrSplit(output, '\n')) {
    const std::string line(piece);
    if (line.rfind("Evaluating ", 0) == 0) {
      out.push_back({});
      out.back().path = line.substr(11);
      continue;
    }
    if (out.empty()) continue;
    Evaluation& e = out.back();
    if (size_t at = line.find("[Integer] = "); at != std::string::npos) {
      e.has_integer = true;
      e.integer = std::stoull(line.substr(at + 12), nullptr, 16);
    } else if (size_t on = line.find("Notify on ["); on != std::string::npos) {
      const size_t close = line.find(']', on);
      const size_t value = line.find("Value 0x", on);
      if (close != std::string::npos && value != std::string::npos) {
        e.notifies.push_back(line.substr(on + 11, close - on - 11) + "=" +
                             line.substr(value + 6, 4));
      }
    } else if (line.find("ACPI Error") != std::string::npos ||
               line.find("ACPI Exception") != std::string::npos ||
               line.find("ACPI Warning") != std::string::npos) {
      e.problems.push_back(line);
    }
  }
  return out;
}

}  // namespace vmmd::acpi::testing
