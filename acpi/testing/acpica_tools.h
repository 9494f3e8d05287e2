// Test helpers that run ACPICA's tools (acpica-tools: iasl, acpiexec) on bytes vmmd builds.
// The paths come from CMake's find_program (VMMD_IASL_PATH, VMMD_ACPIEXEC_PATH); configuring
// fails if the tools are missing, so a test never silently skips them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace vmmd::acpi::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  static absl::StatusOr<TempDir> Create();
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

struct ToolRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved
};

absl::Status WriteFile(const std::string& path, absl::Span<const uint8_t> bytes);
absl::StatusOr<std::string> ReadFile(const std::string& path);
// Runs argv[0] with the arguments in `dir`; each argument is shell-quoted.
absl::StatusOr<ToolRun> Run(const std::string& dir, const std::vector<std::string>& argv);

struct Disassembly {
  ToolRun run;
  std::string dsl;  // the .dsl iasl wrote
};

// Writes `table` to <dir>/<name>.dat and runs `iasl -d` on it.
absl::StatusOr<Disassembly> Disassemble(const TempDir& dir, std::string_view name,
                                        absl::Span<const uint8_t> table);

// Lines of iasl's output or of the .dsl that report a problem (errors, warnings, remarks,
// invalid/incorrect fields, unresolved externals, unknown opcodes); empty when clean.
std::vector<std::string> DisassemblyProblems(const Disassembly& d);

// Compiles an ASL DefinitionBlock with `iasl -on` (no name-path shortening, so the output is
// what the source spells) and returns the AML file's bytes (header included). INTERNAL with
// iasl's output if it reports an error or warning.
absl::StatusOr<std::vector<uint8_t>> CompileAsl(const TempDir& dir, std::string_view asl);

// Writes `tables` (a DSDT, then optional SSDTs) to <dir> and runs `acpiexec -b "<commands>"`
// with OperationRegions simulated as memory filled with `region_fill`.
absl::StatusOr<ToolRun> AcpiExec(const TempDir& dir,
                                 const std::vector<std::vector<uint8_t>>& tables,
                                 std::string_view commands, uint8_t region_fill);

// One "Evaluating <path>" section of acpiexec's batch output.
struct Evaluation {
  std::string path;
  bool has_integer = false;
  uint64_t integer = 0;               // "[Integer] = ..."
  std::vector<std::string> notifies;  // "C001=0x01" per Notify received
  std::vector<std::string> problems;  // ACPI Error / Exception / Warning lines
};
std::vector<Evaluation> ParseAcpiExec(const std::string& output);

}  // namespace vmmd::acpi::testing
