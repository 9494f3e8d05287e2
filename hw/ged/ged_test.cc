#include "hw/ged/ged.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "acpi/aml.h"
#include "acpi/tables/dsdt.h"
#include "acpi/testing/acpica_tools.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/mmio.h"
#include "tests/support/status_matchers.h"

namespace vmmd::hw {
namespace {

// Where the tests put the GED (QEMU virt's window and SPI: GSIV 41).
constexpr core::DevicePlacement kAt{.base = 0x0908'0000, .size = ged::kRegionSize, .spi = 9};

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::MmioRead;
using ::vmmd::testing::RecordingIrq;
using ::vmmd::testing::StatusIs;

TEST(GedTest, EselReadReturnsPendingEventsAndClearsThem) {
  RecordingIrq irq;
  Ged ged(&irq, kAt, {});
  EXPECT_EQ(MmioRead(ged, ged::kEselOffset, 4), 0u);
  ged.RaiseEvent(ged::kEventCpuHotplug);
  ged.RaiseEvent(ged::kEventPowerButton);
  EXPECT_EQ(ged.PendingEvents(), 0xAu);
  EXPECT_EQ(MmioRead(ged, ged::kEselOffset, 4), 0xAu);
  EXPECT_EQ(MmioRead(ged, ged::kEselOffset, 4), 0u);
  EXPECT_EQ(ged.PendingEvents(), 0u);
  EXPECT_EQ(ged.GetStats().esel_reads, 3u);
}

TEST(GedTest, RaiseEventPulsesTheLine) {
  RecordingIrq irq;
  Ged ged(&irq, kAt, {});
  ged.RaiseEvent(ged::kEventCpuHotplug);
  EXPECT_THAT(irq.levels(), ElementsAre(true, false));
  ged.RaiseEvent(ged::kEventCpuHotplug);  // already pending: still a new edge
  EXPECT_THAT(irq.levels(), ElementsAre(true, false, true, false));
  ged.RaiseEvent(0);
  EXPECT_EQ(irq.levels().size(), 4u);
  EXPECT_EQ(ged.GetStats().events_raised, 2u);
  Ged no_irq(nullptr, kAt, {});
  no_irq.RaiseEvent(1);
  EXPECT_EQ(no_irq.PendingEvents(), 1u);
}

TEST(GedTest, OtherAccessesReadZeroDoNotClearAndWritesAreIgnored) {
  Ged ged(nullptr, kAt, {});
  ged.RaiseEvent(0x8);
  EXPECT_EQ(MmioRead(ged, 0, 1), 0u);
  EXPECT_EQ(MmioRead(ged, 0, 2), 0u);
  EXPECT_EQ(MmioRead(ged, 0, 8), 0u);
  EXPECT_EQ(MmioRead(ged, 1, 1), 0u);
  EXPECT_EQ(MmioRead(ged, 4, 4), 0u);
  EXPECT_EQ(MmioRead(ged, 0xFFFF'FFFF'FFFF'FFFCull, 4), 0u);
  const uint8_t ones[4] = {0xFF, 0xFF, 0xFF, 0xFF};
  ged.Write(0, ones);
  ged.Write(0, absl::MakeConstSpan(ones, 1));
  EXPECT_EQ(ged.GetStats().ignored_accesses, 8u);
  EXPECT_EQ(MmioRead(ged, 0, 4), 0x8u);
}

TEST(GedTest, ConcurrentRaisesAreNeverLost) {
  Ged ged(nullptr, kAt, {});
  std::vector<std::thread> threads;
  uint32_t seen = 0;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&ged, t] {
      for (int i = 0; i < 1000; ++i) ged.RaiseEvent(1u << (t * 8 + i % 8));
    });
  }
  for (int i = 0; i < 1000; ++i) seen |= static_cast<uint32_t>(MmioRead(ged, 0, 4));
  for (auto& th : threads) th.join();
  seen |= static_cast<uint32_t>(MmioRead(ged, 0, 4));
  EXPECT_EQ(seen, 0xFFFF'FFFFu);
}

// A DSDT device providing the method the GED calls, and a counter it bumps.
class ScanStub : public acpi::AmlDescribed {
 public:
  absl::Status DescribeAml(acpi::AmlScope& sb) const override {
    using namespace acpi::aml;  // NOLINT(build/namespaces)
                                // clang-format off
    sb.Add(Device("TEST", {
        Name("_HID", String("VMMD0001")),
        Name("CNTC", Zero()),
        Name("CNTP", Zero()),
        Method("SCAN", 0, kNotSerialized, {Increment(Path("CNTC"))}),
        Method("PWRB", 0, kNotSerialized, {Increment(Path("CNTP"))}),
    }));
                                // clang-format on
    return absl::OkStatus();
  }
};

Ged MakeGed() {
  return Ged(
      nullptr, kAt,
      {{ged::kEventCpuHotplug, "\\_SB.TEST.SCAN"}, {ged::kEventPowerButton, "\\_SB.TEST.PWRB"}});
}

TEST(GedAmlTest, DisassemblesCleanlyWithTheExpectedObjects) {
  ScanStub stub;
  Ged ged = MakeGed();
  const acpi::AmlDescribed* devices[] = {&stub, &ged};
  absl::StatusOr<std::vector<uint8_t>> dsdt = acpi::BuildDsdt(devices);
  ASSERT_THAT(dsdt, IsOk());
  absl::StatusOr<acpi::testing::TempDir> dir = acpi::testing::TempDir::Create();
  ASSERT_THAT(dir, IsOk());
  absl::StatusOr<acpi::testing::Disassembly> d = acpi::testing::Disassemble(*dir, "dsdt", *dsdt);
  ASSERT_THAT(d, IsOk());
  EXPECT_THAT(acpi::testing::DisassemblyProblems(*d), IsEmpty()) << d->run.output << d->dsl;
  EXPECT_THAT(d->dsl, HasSubstr("Device (GED)"));
  EXPECT_THAT(d->dsl, HasSubstr("Name (_HID, \"ACPI0013\" /* Generic Event Device */)"));
  EXPECT_THAT(d->dsl, HasSubstr("Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )"));
  EXPECT_THAT(d->dsl, HasSubstr("0x00000029,"));
  EXPECT_THAT(d->dsl, HasSubstr("OperationRegion (EREG, SystemMemory, 0x09080000, 0x04)"));
  EXPECT_THAT(d->dsl, HasSubstr("Field (EREG, DWordAcc, NoLock, WriteAsZeros)"));
  EXPECT_THAT(d->dsl, HasSubstr("Method (_EVT, 1, Serialized)"));
  EXPECT_THAT(d->dsl, HasSubstr("\\_SB.TEST.SCAN ()"));
}

// acpiexec simulates ESEL as memory filled with one byte: 0x08 has the CPU bit, 0x02 the power
// button bit, 0x0A both.
TEST(GedAmlTest, EvtCallsTheHandlerOfEverySetBit) {
  ScanStub stub;
  Ged ged = MakeGed();
  const acpi::AmlDescribed* devices[] = {&stub, &ged};
  absl::StatusOr<std::vector<uint8_t>> dsdt = acpi::BuildDsdt(devices);
  ASSERT_THAT(dsdt, IsOk());
  struct Case {
    uint8_t fill;
    int cpu_calls;
    int power_calls;
  };
  for (const Case& c :
       {Case{0x00, 0, 0}, Case{0x08, 1, 0}, Case{0x02, 0, 1}, Case{0x0A, 1, 1}, Case{0xF5, 0, 0}}) {
    absl::StatusOr<acpi::testing::TempDir> dir = acpi::testing::TempDir::Create();
    ASSERT_THAT(dir, IsOk());
    absl::StatusOr<acpi::testing::ToolRun> run = acpi::testing::AcpiExec(
        *dir, {*dsdt},
        "execute \\_SB.GED._EVT 0x29; execute \\_SB.TEST.CNTC; execute \\_SB.TEST.CNTP", c.fill);
    ASSERT_THAT(run, IsOk());
    EXPECT_THAT(run->output, HasSubstr(absl::StrCat("[Integer] = 000000000000000", c.cpu_calls,
                                                    "\n\nEvaluating \\_SB.TEST.CNTP")))
        << run->output;
    EXPECT_THAT(run->output, HasSubstr(absl::StrCat("\\_SB.TEST.CNTP returned object")));
    const std::string tail = run->output.substr(run->output.rfind("TEST.CNTP returned"));
    EXPECT_THAT(tail, HasSubstr(absl::StrCat("[Integer] = 000000000000000", c.power_calls)))
        << run->output;
    EXPECT_THAT(run->output, ::testing::Not(HasSubstr("Exception"))) << run->output;
  }
}

// With the power button, the DSDT holds \_SB.PWRB (PNP0C0C, what Linux's ACPI button driver
// binds) and _EVT notifies it 0x80 (pressed) for the power-button bit only.
TEST(GedAmlTest, PowerButtonIsDescribedAndNotifiedOnItsBit) {
  ScanStub stub;
  Ged ged(nullptr, kAt, {{ged::kEventCpuHotplug, "\\_SB.TEST.SCAN"}}, /*power_button=*/true);
  const acpi::AmlDescribed* devices[] = {&stub, &ged};
  absl::StatusOr<std::vector<uint8_t>> dsdt = acpi::BuildDsdt(devices);
  ASSERT_THAT(dsdt, IsOk());
  absl::StatusOr<acpi::testing::TempDir> dir = acpi::testing::TempDir::Create();
  ASSERT_THAT(dir, IsOk());
  absl::StatusOr<acpi::testing::Disassembly> d = acpi::testing::Disassemble(*dir, "dsdt", *dsdt);
  ASSERT_THAT(d, IsOk());
  EXPECT_THAT(acpi::testing::DisassemblyProblems(*d), IsEmpty()) << d->run.output << d->dsl;
  EXPECT_THAT(d->dsl, HasSubstr("Device (PWRB)"));
  EXPECT_THAT(d->dsl, HasSubstr("Name (_HID, \"PNP0C0C\""));
  EXPECT_THAT(d->dsl, HasSubstr("Notify (\\_SB.PWRB, 0x80)"));
  struct Case {
    uint8_t fill;
    std::vector<std::string> notifies;
    uint64_t scans;
  };
  for (const Case& c : {Case{0x00, {}, 0}, Case{0x02, {"PWRB=0x80"}, 0}, Case{0x08, {}, 1},
                        Case{0x0A, {"PWRB=0x80"}, 1}}) {
    absl::StatusOr<acpi::testing::TempDir> run_dir = acpi::testing::TempDir::Create();
    ASSERT_THAT(run_dir, IsOk());
    absl::StatusOr<acpi::testing::ToolRun> run = acpi::testing::AcpiExec(
        *run_dir, {*dsdt}, "execute \\_SB.GED._EVT 0x29; execute \\_SB.TEST.CNTC", c.fill);
    ASSERT_THAT(run, IsOk());
    std::vector<acpi::testing::Evaluation> evals = acpi::testing::ParseAcpiExec(run->output);
    ASSERT_EQ(evals.size(), 2u) << run->output;
    EXPECT_EQ(evals[0].notifies, c.notifies) << "fill 0x" << std::hex << int{c.fill};
    EXPECT_THAT(evals[0].problems, IsEmpty()) << run->output;
    EXPECT_EQ(evals[1].integer, c.scans) << run->output;
  }
}

// Without the power button there is no PWRB, and nothing notifies it.
TEST(GedAmlTest, NoPowerButtonByDefault) {
  Ged ged(nullptr, kAt, {{ged::kEventCpuHotplug, "\\_SB.SCAN"}});
  acpi::AmlScope sb("\\_SB");
  ASSERT_THAT(ged.DescribeAml(sb), IsOk());
  ASSERT_EQ(sb.terms().size(), 1u);
  Ged with(nullptr, kAt, {{ged::kEventCpuHotplug, "\\_SB.SCAN"}}, /*power_button=*/true);
  acpi::AmlScope sb2("\\_SB");
  ASSERT_THAT(with.DescribeAml(sb2), IsOk());
  EXPECT_EQ(sb2.terms().size(), 2u);
}

TEST(GedAmlTest, RejectsBadHandlers) {
  acpi::AmlScope sb("\\_SB");
  EXPECT_THAT(Ged(nullptr, kAt, {{0x3, "\\X"}}).DescribeAml(sb),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Ged(nullptr, kAt, {{0, "\\X"}}).DescribeAml(sb),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Ged(nullptr, kAt, {{8, "\\X"}, {8, "\\Y"}}).DescribeAml(sb),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // The power button owns its bit.
  EXPECT_THAT(
      Ged(nullptr, kAt, {{ged::kEventPowerButton, "\\X"}}, /*power_button=*/true).DescribeAml(sb),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0x2")));
  EXPECT_THAT(sb.terms(), IsEmpty());
  // A bad method path surfaces when the DSDT is encoded.
  Ged bad_path(nullptr, kAt, {{8, "\\_SB.TOOLONG.X"}});
  const acpi::AmlDescribed* devices[] = {&bad_path};
  EXPECT_THAT(acpi::BuildDsdt(devices), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmmd::hw
