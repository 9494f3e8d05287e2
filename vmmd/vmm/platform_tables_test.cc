// The ACPI tables of the board as the composition root assembles it, with its real DSDT devices
// (PL011, CPU-hotplug block, GED): iasl disassembles every table without a complaint, acpiexec
// loads the whole set, and the GED's _EVT reaches the CPU-hotplug scan only for its own event.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "acpi/acpi_tables.h"
#include "acpi/aml.h"
#include "acpi/pl011_aml.h"
#include "acpi/tables/dsdt.h"
#include "acpi/testing/acpica_tools.h"
#include "core/arch/aarch64/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hw/cpu_hotplug/cpu_hotplug.h"
#include "hw/cpu_hotplug/testing/aml_harness.h"
#include "hw/cpu_hotplug/testing/fake_cpu_hotplug_backend.h"
#include "hw/ged/ged.h"
#include "tests/support/status_matchers.h"

namespace vmmd::vmm {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::vmmd::testing::IsOk;
namespace at = acpi::testing;
namespace layout = core::aarch64;

constexpr uint64_t kRsdpGpa = 0x7FFF'0000;
constexpr uint64_t kTablesGpa = 0x7C43'0000;

// The board's platform: `boot` of `possible` vCPUs and its DSDT devices.
struct Board {
  Board(uint32_t boot, uint32_t possible)
      : backend(hw::testing::KvmMpidrs(possible), boot),
        cpuhp(&backend),
        ged(nullptr, {.handlers = {{hw::ged::kEventCpuHotplug,
                                    std::string(hw::cpu_hotplug::kScanMethodPath)}}}),
        uart(layout::kUartBase, layout::kUartSize, layout::kSpiIntidBase + layout::kUartSpi) {
    for (uint32_t i = 0; i < possible; ++i) {
      platform.cpus.push_back({hw::testing::KvmMpidr(i) | (1ULL << 31), i < boot});
    }
    const uint32_t low = std::min(possible, layout::kGicRedistRegion0Count);
    platform.gic_redist_regions.push_back({layout::kGicRedistBase, low});
    if (possible > low) {
      platform.gic_redist_regions.push_back({layout::kGicRedistHighBase, possible - low});
    }
    platform.pmu = true;
    platform.dsdt_devices = {&uart, &cpuhp, &ged};
  }

  hw::testing::FakeCpuHotplugBackend backend;
  hw::CpuHotplug cpuhp;
  hw::Ged ged;
  acpi::Pl011Aml uart;
  acpi::AcpiPlatform platform;
};

struct Shape {
  uint32_t boot;
  uint32_t possible;
};

class PlatformTablesTest : public ::testing::TestWithParam<Shape> {};

TEST_P(PlatformTablesTest, IaslDisassemblesEveryTableWithoutComplaint) {
  const Shape shape = GetParam();
  Board b(shape.boot, shape.possible);
  absl::StatusOr<acpi::AcpiTables> t = acpi::BuildAcpiTables(b.platform);
  ASSERT_THAT(t, IsOk());
  absl::StatusOr<acpi::AcpiImages> img = acpi::ApplyAcpiFixups(*t, kRsdpGpa, kTablesGpa);
  ASSERT_THAT(img, IsOk());
  absl::StatusOr<at::TempDir> dir = at::TempDir::Create();
  ASSERT_THAT(dir, IsOk());
  for (const acpi::AcpiTableLocation& l : t->locations) {
    const std::vector<uint8_t> table(img->tables.begin() + l.offset,
                                     img->tables.begin() + l.offset + l.length);
    absl::StatusOr<at::Disassembly> d = at::Disassemble(*dir, l.signature, table);
    ASSERT_THAT(d, IsOk());
    EXPECT_THAT(at::DisassemblyProblems(*d), IsEmpty())
        << l.signature << " " << shape.boot << "/" << shape.possible << "\n"
        << d->run.output;
    if (l.signature == "DSDT") {
      EXPECT_THAT(d->dsl, HasSubstr("Device (COM0)"));
      EXPECT_THAT(d->dsl, HasSubstr("Device (GED)"));
      EXPECT_THAT(d->dsl, HasSubstr("\\_SB.CPUS.CSCN ()"));
      EXPECT_THAT(d->dsl, HasSubstr(absl::StrFormat("Device (C%03X)", shape.possible - 1)));
    }
  }
}

// ACPICA's own table manager accepts the whole set, and the last possible vCPU's _STA runs.
TEST_P(PlatformTablesTest, AcpiexecLoadsTheWholeSet) {
  const Shape shape = GetParam();
  Board b(shape.boot, shape.possible);
  absl::StatusOr<acpi::AcpiTables> t = acpi::BuildAcpiTables(b.platform);
  ASSERT_THAT(t, IsOk());
  absl::StatusOr<acpi::AcpiImages> img = acpi::ApplyAcpiFixups(*t, kRsdpGpa, kTablesGpa);
  ASSERT_THAT(img, IsOk());
  std::vector<std::vector<uint8_t>> files;
  for (const acpi::AcpiTableLocation& l : t->locations) {
    if (l.signature == "XSDT") continue;
    files.emplace_back(img->tables.begin() + l.offset, img->tables.begin() + l.offset + l.length);
  }
  absl::StatusOr<at::TempDir> dir = at::TempDir::Create();
  ASSERT_THAT(dir, IsOk());
  const std::string last = absl::StrFormat("C%03X", shape.possible - 1);
  absl::StatusOr<at::ToolRun> run =
      at::AcpiExec(*dir, files, absl::StrCat("execute \\_SB.CPUS.", last, "._STA"), 0x00);
  ASSERT_THAT(run, IsOk());
  EXPECT_THAT(run->output, HasSubstr("ACPI AML tables successfully acquired and loaded"));
  EXPECT_THAT(run->output, ::testing::Not(HasSubstr("ACPI Warning"))) << run->output;
  EXPECT_THAT(run->output, ::testing::Not(HasSubstr("ACPI Error"))) << run->output;
  EXPECT_THAT(run->output, ::testing::Not(HasSubstr("ACPI Exception"))) << run->output;
  const std::vector<at::Evaluation> evals = at::ParseAcpiExec(run->output);
  ASSERT_EQ(evals.size(), 1u) << run->output;
  EXPECT_TRUE(evals[0].has_integer);
  EXPECT_EQ(evals[0].integer, 0u);  // the simulated block reads 0: not present
}

INSTANTIATE_TEST_SUITE_P(Shapes, PlatformTablesTest,
                         ::testing::Values(Shape{1, 1}, Shape{2, 4}, Shape{3, 7}, Shape{1, 512}),
                         [](const ::testing::TestParamInfo<Shape>& param_info) {
                           return absl::StrFormat("Boot%uOf%u", param_info.param.boot,
                                                  param_info.param.possible);
                         });

// The composition root wires the GED's CPU-hotplug event to \_SB.CPUS.CSCN: _EVT runs the scan
// for that bit only. The GED register is overlaid like the block (\TESL, set by \TEVT).
TEST(PlatformTablesTest, GedCpuEventRunsTheScan) {
  Board b(1, 4);
  absl::StatusOr<std::vector<uint8_t>> dsdt = acpi::BuildDsdt(b.platform.dsdt_devices);
  ASSERT_THAT(dsdt, IsOk());
  std::vector<acpi::AmlTerm> overlay = hw::testing::CpuHotplugOverlay(layout::kCpuHotplugBase);
  {
    using namespace acpi::aml;  // NOLINT(build/namespaces)
    overlay.push_back(
        OperationRegion("\\TGED", RegionSpace::kSystemMemory, Int(layout::kGedBase), Int(4)));
    overlay.push_back(Field("\\TGED", FieldAccess::kDWord, FieldLock::kNoLock,
                            FieldUpdate::kPreserve, {FieldUnit("TESL", 32)}));
    overlay.push_back(Method("\\TEVT", 1, kNotSerialized, {Store(Arg(0), Path("\\TESL"))}));
  }
  using hw::cpu_hotplug::kStatusInsert;
  using hw::cpu_hotplug::kStatusPresent;
  // clang-format off
  const auto evals = hw::testing::ExecAml(*dsdt, hw::testing::HarnessSsdt(overlay), {
      hw::testing::SetBlock(kStatusPresent | kStatusInsert, 3),
      "execute \\TEVT 0", "execute \\_SB.GED._EVT 0x29",
      absl::StrFormat("execute \\TEVT 0x%x", hw::ged::kEventPowerButton),
      "execute \\_SB.GED._EVT 0x29",
      absl::StrFormat("execute \\TEVT 0x%x", hw::ged::kEventCpuHotplug),
      "execute \\_SB.GED._EVT 0x29",
  });
  // clang-format on
  ASSERT_EQ(evals.size(), 7u);
  EXPECT_THAT(evals[2].notifies, IsEmpty());
  EXPECT_THAT(evals[4].notifies, IsEmpty());
  EXPECT_EQ(evals[6].notifies, hw::testing::Repeated("C003=0x01", 2 * 4 + 2));
}

TEST(PlatformTablesTest, AcpiDefaultsAreTheBoardLayout) {
  const acpi::AcpiPlatform p;
  EXPECT_EQ(p.gic_dist_base, layout::kGicDistBase);
  EXPECT_EQ(p.pmu_gsiv, layout::kPmuIntid);
  EXPECT_EQ(p.timers.secure_el1, layout::kSecurePtimerIntid);
  EXPECT_EQ(p.timers.non_secure_el1, layout::kPtimerIntid);
  EXPECT_EQ(p.timers.virtual_el1, layout::kVtimerIntid);
  EXPECT_EQ(p.timers.non_secure_el2, layout::kHypPtimerIntid);
  EXPECT_EQ(p.console.base, layout::kUartBase);
  EXPECT_EQ(p.console.gsiv, layout::kSpiIntidBase + layout::kUartSpi);
  EXPECT_EQ(acpi::kGicRedistributorStride, layout::kGicRedistStride);
  EXPECT_EQ(acpi::kAcpiMpidrMask, layout::kMpidrAffinityMask);
}

}  // namespace
}  // namespace vmmd::vmm
