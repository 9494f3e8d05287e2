// Running the CPU-hotplug AML in acpiexec, for tests: an SSDT overlays the register block with
// plain fields so a test sets what the "hardware" reads back and sees exactly which bytes the
// AML wrote. Every bit a test checks comes from cpu_hotplug_regs.h, the header the MMIO model
// uses too.
//   \TSEL (selector dword), \TSTS (status/control byte), \TCMD (command byte), \TDAT (data
//   dword); \TSET (status, data) sets the first two.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "acpi/aml.h"
#include "acpi/tables/table_writer.h"
#include "acpi/testing/acpica_tools.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hw/cpu_hotplug/cpu_hotplug_regs.h"
#include "tests/support/status_matchers.h"

namespace vmmd::hw::testing {

// The overlay of a block at `base`, as AML terms (a test may add its own before packing).
inline std::vector<acpi::AmlTerm> CpuHotplugOverlay(uint64_t base) {
  using namespace acpi::aml;    // NOLINT(build/namespaces)
  using namespace cpu_hotplug;  // NOLINT(build/namespaces)
  // clang-format off
  return {
      OperationRegion("\\TREG", RegionSpace::kSystemMemory, Int(base), Int(kBlockSize)),
      Field("\\TREG", FieldAccess::kByte, FieldLock::kNoLock, FieldUpdate::kPreserve,
            {FieldOffset(kSelectorOffset), FieldUnit("TSEL", 32), FieldOffset(kStatusOffset),
             FieldUnit("TSTS", 8), FieldOffset(kCommandOffset), FieldUnit("TCMD", 8),
             FieldOffset(kDataOffset), FieldUnit("TDAT", 32)}),
      Method("\\TSET", 2, kNotSerialized,
             {Store(Arg(0), Path("\\TSTS")), Store(Arg(1), Path("\\TDAT"))}),
  };
  // clang-format on
}

// `terms` packed as an SSDT.
inline std::vector<uint8_t> HarnessSsdt(const std::vector<acpi::AmlTerm>& terms) {
  acpi::TableWriter w("SSDT", 2);
  for (const acpi::AmlTerm& t : terms) {
    absl::StatusOr<std::vector<uint8_t>> bytes = t.Encode();
    EXPECT_THAT(bytes, vmmd::testing::IsOk());
    if (bytes.ok()) w.Bytes(*bytes);
  }
  absl::StatusOr<std::vector<uint8_t>> ssdt = std::move(w).Finish();
  EXPECT_THAT(ssdt, vmmd::testing::IsOk());
  return ssdt.ok() ? *ssdt : std::vector<uint8_t>{};
}

// Runs `commands` on `dsdt` plus the harness SSDT; one Evaluation per command, none of which
// may report a problem.
inline std::vector<acpi::testing::Evaluation> ExecAml(const std::vector<uint8_t>& dsdt,
                                                      const std::vector<uint8_t>& harness,
                                                      const std::vector<std::string>& commands) {
  namespace at = acpi::testing;
  absl::StatusOr<at::TempDir> dir = at::TempDir::Create();
  EXPECT_THAT(dir, vmmd::testing::IsOk());
  if (!dir.ok()) return {};
  std::string batch;
  for (const std::string& c : commands) absl::StrAppend(&batch, batch.empty() ? "" : "; ", c);
  absl::StatusOr<at::ToolRun> run = at::AcpiExec(*dir, {dsdt, harness}, batch, 0x00);
  EXPECT_THAT(run, vmmd::testing::IsOk());
  if (!run.ok()) return {};
  std::vector<at::Evaluation> evals = at::ParseAcpiExec(run->output);
  EXPECT_EQ(evals.size(), commands.size()) << run->output;
  for (const at::Evaluation& e : evals) EXPECT_THAT(e.problems, ::testing::IsEmpty()) << e.path;
  return evals;
}

// "execute \TSET <status> <data>": what the block reads back next.
inline std::string SetBlock(uint8_t status, uint32_t data) {
  return absl::StrFormat("execute \\TSET 0x%x 0x%x", status, data);
}

// `n` copies of one Notify ("C001=0x01").
inline std::vector<std::string> Repeated(const std::string& notify, int n) {
  return std::vector<std::string>(n, notify);
}

}  // namespace vmmd::hw::testing
