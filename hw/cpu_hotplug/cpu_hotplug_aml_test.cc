// The CPU-hotplug AML, checked with ACPICA: iasl disassembles a DSDT holding the block without a
// single complaint, and acpiexec runs the methods against a simulated register block
// (testing/aml_harness.h). How the GED's _EVT reaches CSCN is the composition root's wiring and
// is tested there (vmmd/vmm/platform_tables_test.cc).
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "acpi/aml.h"
#include "acpi/tables/dsdt.h"
#include "acpi/testing/acpica_tools.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hw/cpu_hotplug/cpu_hotplug.h"
#include "hw/cpu_hotplug/testing/aml_harness.h"
#include "hw/cpu_hotplug/testing/fake_cpu_hotplug_backend.h"
#include "tests/support/status_matchers.h"

namespace vmmd::hw {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::vmmd::testing::IsOk;
using namespace cpu_hotplug;  // NOLINT(build/namespaces)
namespace at = acpi::testing;
using testing::Repeated;

constexpr uint64_t kBase = 0x090C'0000;

// A DSDT with just the block, for `possible` vCPUs of which the first `boot` are boot vCPUs.
struct Platform {
  explicit Platform(uint32_t possible, uint32_t boot = 1)
      : backend(testing::KvmMpidrs(possible), boot),
        cpuhp(&backend, {.base = kBase, .size = kBlockSize}) {}

  absl::StatusOr<std::vector<uint8_t>> Dsdt() const {
    const acpi::AmlDescribed* devices[] = {&cpuhp};
    return acpi::BuildDsdt(devices);
  }

  testing::FakeCpuHotplugBackend backend;
  CpuHotplug cpuhp;
};

std::vector<at::Evaluation> Exec(const Platform& p, const std::vector<std::string>& commands) {
  absl::StatusOr<std::vector<uint8_t>> dsdt = p.Dsdt();
  EXPECT_THAT(dsdt, IsOk());
  if (!dsdt.ok()) return {};
  return testing::ExecAml(*dsdt, testing::HarnessSsdt(testing::CpuHotplugOverlay(kBase)), commands);
}

std::string Set(uint8_t status, uint32_t data) { return testing::SetBlock(status, data); }

TEST(CpuHotplugAmlTest, DisassemblesCleanlyForEveryShape) {
  for (uint32_t possible : {1u, 4u, 7u, 512u}) {
    Platform p(possible);
    absl::StatusOr<std::vector<uint8_t>> dsdt = p.Dsdt();
    ASSERT_THAT(dsdt, IsOk());
    absl::StatusOr<at::TempDir> dir = at::TempDir::Create();
    ASSERT_THAT(dir, IsOk());
    absl::StatusOr<at::Disassembly> d = at::Disassemble(*dir, "dsdt", *dsdt);
    ASSERT_THAT(d, IsOk());
    EXPECT_THAT(at::DisassemblyProblems(*d), IsEmpty()) << d->run.output;
    for (uint32_t cpu : {0u, possible / 2, possible - 1}) {
      const std::string name = absl::StrFormat("C%03X", cpu);
      EXPECT_THAT(d->dsl, HasSubstr(absl::StrCat("Device (", name, ")"))) << possible;
      EXPECT_THAT(d->dsl, HasSubstr(absl::StrCat("Notify (", name, ", Arg1)"))) << possible;
    }
    size_t devices = 0;
    for (size_t at = d->dsl.find("\"ACPI0007\""); at != std::string::npos;
         at = d->dsl.find("\"ACPI0007\"", at + 1)) {
      ++devices;
    }
    EXPECT_EQ(devices, possible);
    EXPECT_THAT(d->dsl, HasSubstr("While ((Local0 && (Local1 < ")) << possible;
  }
}

TEST(CpuHotplugAmlTest, RegisterLayoutInTheAmlMatchesTheDevice) {
  Platform p(4);
  absl::StatusOr<std::vector<uint8_t>> dsdt = p.Dsdt();
  ASSERT_THAT(dsdt, IsOk());
  absl::StatusOr<at::TempDir> dir = at::TempDir::Create();
  ASSERT_THAT(dir, IsOk());
  absl::StatusOr<at::Disassembly> d = at::Disassemble(*dir, "dsdt", *dsdt);
  ASSERT_THAT(d, IsOk());
  EXPECT_THAT(d->dsl, HasSubstr("Memory32Fixed (ReadWrite,\n                    0x090C0000,"));
  EXPECT_THAT(d->dsl, HasSubstr("OperationRegion (PRST, SystemMemory, 0x090C0000, 0x0C)"));
  EXPECT_THAT(d->dsl, HasSubstr("Field (PRST, ByteAcc, NoLock, WriteAsZeros)\n            {\n"
                                "                Offset (0x04), \n"
                                "                CPEN,   1, \n"
                                "                CINS,   1, \n"
                                "                CRMV,   1, \n"
                                "                CEJ0,   1, \n"
                                "                    ,   1, \n"
                                "                CPRS,   1, \n"
                                "                Offset (0x05), \n"
                                "                CCMD,   8\n"));
  EXPECT_THAT(d->dsl, HasSubstr("Field (PRST, DWordAcc, NoLock, Preserve)\n            {\n"
                                "                CSEL,   32, \n"
                                "                Offset (0x08), \n"
                                "                CDAT,   32\n"));
  EXPECT_THAT(d->dsl, HasSubstr("Name (_HID, \"ACPI0010\" /* Processor Container Device */)"));
  EXPECT_THAT(d->dsl, HasSubstr("Name (_CID, EisaId (\"PNP0A05\")"));
  EXPECT_THAT(d->dsl, HasSubstr("Name (_HID, EisaId (\"PNP0A06\")"));
}

TEST(CpuHotplugAmlTest, StaReflectsThePresentAndEnabledBitsOfTheSelectedCpu) {
  Platform p(4);
  // clang-format off
  const auto evals = Exec(p, {
      Set(kStatusPresent | kStatusEnabled, 0), "execute \\_SB.CPUS.C002._STA", "execute \\TSEL",
      Set(kStatusPresent, 0), "execute \\_SB.CPUS.C003._STA", "execute \\TSEL",
      Set(kStatusPresent | kStatusInsert | kStatusRemove, 0), "execute \\_SB.CPUS.C001._STA",
      Set(kStatusEnabled, 0), "execute \\_SB.CPUS.C000._STA",
      Set(0, 0), "execute \\_SB.CPUS.C000._STA",
  });
  // clang-format on
  ASSERT_EQ(evals.size(), 12u);
  EXPECT_EQ(evals[1].integer, kStaEnabled);
  EXPECT_EQ(evals[2].integer, 2u);
  EXPECT_EQ(evals[4].integer, kStaDisabled);
  EXPECT_EQ(evals[5].integer, 3u);
  EXPECT_EQ(evals[7].integer, kStaDisabled);
  EXPECT_EQ(evals[9].integer, 0u);  // not present
  EXPECT_EQ(evals[11].integer, 0u);
  for (int i : {1, 4, 7, 9, 11}) EXPECT_TRUE(evals[i].has_integer) << i;
}

TEST(CpuHotplugAmlTest, Ej0SelectsTheCpuAndWritesOnlyTheEjectBit) {
  Platform p(7, 3);
  // clang-format off
  const auto evals = Exec(p, {
      Set(0xFF, 0), "execute \\_SB.CPUS.C005._EJ0 1", "execute \\TSEL", "execute \\TSTS",
  });
  // clang-format on
  ASSERT_EQ(evals.size(), 4u);
  EXPECT_EQ(evals[2].integer, 5u);
  EXPECT_EQ(evals[3].integer, kControlEject);  // WriteAsZeros: no other control bit
}

TEST(CpuHotplugAmlTest, OstWritesEventThenStatusThroughTheCommandRegister) {
  Platform p(4);
  // clang-format off
  const auto evals = Exec(p, {
      "execute \\_SB.CPUS.C002._OST 0x103 0x80 (00)", "execute \\TSEL", "execute \\TCMD",
      "execute \\TDAT",
  });
  // clang-format on
  ASSERT_EQ(evals.size(), 4u);
  EXPECT_EQ(evals[1].integer, 2u);
  EXPECT_EQ(evals[2].integer, kCmdOstStatus);  // the last command written
  EXPECT_EQ(evals[3].integer, 0x80u);          // the last data written: the status
}

// In acpiexec the block is plain memory, so an event bit the scan "clears" (by writing it)
// stays set: the scan must then stop after its bound (2 per vCPU + 2 rounds), having notified
// the CPU that CDAT names with the right value, and written exactly the clear bit.
TEST(CpuHotplugAmlTest, ScanNotifiesInsertAndRemoveAndIsBounded) {
  Platform p(4);
  // clang-format off
  const auto evals = Exec(p, {
      Set(kStatusPresent | kStatusInsert, 1), "execute \\_SB.CPUS.CSCN", "execute \\TSTS",
      "execute \\TCMD", "execute \\TSEL",
      Set(kStatusPresent | kStatusEnabled | kStatusRemove, 3), "execute \\_SB.CPUS.CSCN",
      "execute \\TSTS",
      Set(kStatusPresent | kStatusInsert | kStatusRemove, 2), "execute \\_SB.CPUS.CSCN",
      Set(kStatusPresent | kStatusEnabled, 2), "execute \\_SB.CPUS.CSCN",
  });
  // clang-format on
  ASSERT_EQ(evals.size(), 12u);
  const int rounds = 2 * 4 + 2;
  EXPECT_EQ(evals[1].notifies, Repeated("C001=0x01", rounds));
  EXPECT_EQ(evals[2].integer, kControlClearInsert);
  EXPECT_EQ(evals[3].integer, kCmdGetNextCpuWithEvent);
  EXPECT_EQ(evals[4].integer, 0u);  // the scan starts from vCPU 0
  EXPECT_EQ(evals[6].notifies, Repeated("C003=0x03", rounds));
  EXPECT_EQ(evals[7].integer, kControlClearRemove);
  // Both events: insert first; its clear write drops the remove bit in memory, so the next
  // rounds see insert only.
  ASSERT_FALSE(evals[9].notifies.empty());
  EXPECT_EQ(evals[9].notifies.front(), "C002=0x01");
  EXPECT_THAT(evals[11].notifies, IsEmpty());  // no event: one round, no Notify
}

TEST(CpuHotplugAmlTest, RejectsABlockOutside32Bits) {
  testing::FakeCpuHotplugBackend backend(testing::KvmMpidrs(2), 1);
  CpuHotplug high(&backend, {.base = 0x1'0000'0000ULL, .size = kBlockSize});
  acpi::AmlScope sb("\\_SB");
  EXPECT_THAT(high.DescribeAml(sb), vmmd::testing::StatusIs(absl::StatusCode::kInvalidArgument));
  testing::FakeCpuHotplugBackend none({}, 0);
  CpuHotplug empty(&none, {.base = kBase, .size = kBlockSize});
  EXPECT_THAT(empty.DescribeAml(sb), vmmd::testing::StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmmd::hw
