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
#include "acpi/tables/dsdt.h"
#include "acpi/testing/acpica_tools.h"
#include "core/arch/aarch64/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hw/cpu_hotplug/cpu_hotplug.h"
#include "hw/cpu_hotplug/testing/aml_harness.h"
#include "hw/cpu_hotplug/testing/fake_cpu_hotplug_backend.h"
#include "hw/fw_cfg/fw_cfg_items.h"
#include "hw/fw_cfg/table_loader.h"
#include "hw/ged/ged.h"
#include "hw/pl011/pl011.h"
#include "tests/support/status_matchers.h"
#include "vmmd/vmm/board.h"
#include "vmmd/vmm/device_table.h"
#include "vmmd/vmm/platform.h"

namespace vmmd::vmm {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::vmmd::testing::IsOk;
namespace at = acpi::testing;
namespace layout = core::aarch64;

constexpr uint64_t kRsdpGpa = 0x7FFF'0000;
constexpr uint64_t kTablesGpa = 0x7C43'0000;

// The board's platform as the composition root derives it: `boot` of `possible` vCPUs, the
// board's PL011 and the CPU-hotplug devices (with a fake backend for the vCPU manager).
struct Board {
  Board(uint32_t boot, uint32_t possible)
      : backend(hw::testing::KvmMpidrs(possible), boot), devices(kBoardDevices, nullptr) {
    for (uint32_t i = 0; i < possible; ++i) {
      shape.mpidrs.push_back(hw::testing::KvmMpidr(i) | (1ULL << 31));
    }
    shape.boot_vcpus = boot;
    shape.redists = RedistributorRegions(possible);
    shape.pmu = true;
    EXPECT_THAT(devices.Add(board::kPl011,
                            [](const DeviceSite& at) {
                              return std::make_shared<hw::Pl011>(nullptr, at.irq, at.placement);
                            }),
                IsOk());
    EXPECT_THAT(AddCpuHotplugDevices(devices, &backend), IsOk());
    absl::StatusOr<acpi::AcpiPlatform> p = BoardAcpiPlatform(shape, devices);
    EXPECT_THAT(p, IsOk());
    if (p.ok()) platform = *p;
  }

  hw::testing::FakeCpuHotplugBackend backend;
  MachineShape shape;
  DeviceTable devices;
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

// The loader script the firmware runs passes the checks edk2 makes (every file allocated,
// every pointer and checksum inside its file).
TEST_P(PlatformTablesTest, TheTableLoaderScriptValidates) {
  const Shape shape = GetParam();
  Board b(shape.boot, shape.possible);
  absl::StatusOr<acpi::AcpiTables> t = acpi::BuildAcpiTables(b.platform);
  ASSERT_THAT(t, IsOk());
  absl::StatusOr<hw::TableLoader> loader = AcpiTableLoader(*t);
  ASSERT_THAT(loader, IsOk());
  EXPECT_EQ(loader->command_count(), 2 + t->pointers.size() + t->checksums.size());
  hw::FwCfgItems items;
  ASSERT_THAT(items.AddFile(hw::table_loader::kAcpiRsdpFile, t->rsdp), IsOk());
  ASSERT_THAT(items.AddFile(hw::table_loader::kAcpiTablesFile, t->tables), IsOk());
  EXPECT_THAT(loader->Validate(items), IsOk());
}

INSTANTIATE_TEST_SUITE_P(Shapes, PlatformTablesTest,
                         ::testing::Values(Shape{1, 1}, Shape{2, 4}, Shape{3, 7}, Shape{1, 512}),
                         [](const ::testing::TestParamInfo<Shape>& param_info) {
                           return absl::StrFormat("Boot%uOf%u", param_info.param.boot,
                                                  param_info.param.possible);
                         });

// The composition root wires the GED's CPU-hotplug event to \_SB.CPUS.CSCN: _EVT runs the scan
// for that bit only; the power-button bit notifies \_SB.PWRB 0x80 (the graceful StopVm). The GED
// register is overlaid like the block (\TESL, set by \TEVT).
TEST(PlatformTablesTest, GedCpuEventRunsTheScan) {
  Board b(1, 4);
  absl::StatusOr<std::vector<uint8_t>> dsdt = acpi::BuildDsdt(b.platform.dsdt_devices);
  ASSERT_THAT(dsdt, IsOk());
  std::vector<acpi::AmlTerm> overlay = hw::testing::CpuHotplugOverlay(board::kCpuHotplug.base);
  {
    using namespace acpi::aml;  // NOLINT(build/namespaces)
    overlay.push_back(
        OperationRegion("\\TGED", RegionSpace::kSystemMemory, Int(board::kGed.base), Int(4)));
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
  EXPECT_EQ(evals[4].notifies, std::vector<std::string>{"PWRB=0x80"});
  EXPECT_EQ(evals[6].notifies, hw::testing::Repeated("C003=0x01", 2 * 4 + 2));
}

// Every address and interrupt the tables give the guest comes from the board's rows and the
// arch layout, not from defaults of its own.
TEST(PlatformTablesTest, TheTablesDescribeTheBoardRows) {
  Board b(2, 4);
  const acpi::AcpiPlatform& p = b.platform;
  EXPECT_EQ(p.console.base, board::kPl011.base);
  EXPECT_EQ(p.console.gsiv, layout::kSpiIntidBase + *board::kPl011.spi);
  EXPECT_EQ(p.gic_dist_base, layout::kGicDistBase);
  EXPECT_EQ(p.pmu_gsiv, layout::kPmuIntid);
  EXPECT_EQ(p.timers.secure_el1, layout::kSecurePtimerIntid);
  EXPECT_EQ(p.timers.non_secure_el1, layout::kPtimerIntid);
  EXPECT_EQ(p.timers.virtual_el1, layout::kVtimerIntid);
  EXPECT_EQ(p.timers.non_secure_el2, layout::kHypPtimerIntid);
  EXPECT_EQ(acpi::kGicRedistributorStride, layout::kGicRedistStride);
  EXPECT_EQ(acpi::kAcpiMpidrMask, layout::kMpidrAffinityMask);
  ASSERT_EQ(p.cpus.size(), 4u);
  EXPECT_TRUE(p.cpus[1].boot);
  EXPECT_FALSE(p.cpus[2].boot);
  // The DSDT: COM0, the block and the GED at their rows, with their SPIs.
  absl::StatusOr<std::vector<uint8_t>> dsdt = acpi::BuildDsdt(p.dsdt_devices);
  ASSERT_THAT(dsdt, IsOk());
  absl::StatusOr<at::TempDir> dir = at::TempDir::Create();
  ASSERT_THAT(dir, IsOk());
  absl::StatusOr<at::Disassembly> d = at::Disassemble(*dir, "dsdt", *dsdt);
  ASSERT_THAT(d, IsOk());
  EXPECT_THAT(d->dsl, HasSubstr("0x09000000,         // Address Base"));
  EXPECT_THAT(d->dsl, HasSubstr("0x00000021,"));  // PL011: GSIV 33
  EXPECT_THAT(d->dsl, HasSubstr("OperationRegion (PRST, SystemMemory, 0x090C0000, 0x0C)"));
  EXPECT_THAT(d->dsl, HasSubstr("OperationRegion (EREG, SystemMemory, 0x09080000, 0x04)"));
  EXPECT_THAT(d->dsl, HasSubstr("0x00000029,"));  // GED: GSIV 41
  // The power button the GED notifies (Linux's ACPI button driver binds PNP0C0C).
  EXPECT_THAT(d->dsl, HasSubstr("Device (PWRB)"));
  EXPECT_THAT(d->dsl, HasSubstr("Name (_HID, \"PNP0C0C\""));
  EXPECT_THAT(d->dsl, HasSubstr("Notify (\\_SB.PWRB, 0x80)"));
  // Without the console there is no SPCR to write.
  DeviceTable empty(kBoardDevices, nullptr);
  EXPECT_THAT(BoardAcpiPlatform(b.shape, empty),
              ::vmmd::testing::StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace vmmd::vmm
