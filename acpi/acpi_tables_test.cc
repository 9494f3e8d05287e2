// Every table for the vCPU shapes 1/1, 2/4, 3/7 and 1/512 (boot/possible): disassembled by iasl
// without a complaint, loaded by acpiexec, decoded back field by field, checksums and loader
// fixups checked the way edk2 runs them. The DSDT holds a test device; the tables of the real
// board, with its devices, are tested where the board is composed (vmmd/vmm).
#include "acpi/acpi_tables.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "acpi/aml.h"
#include "acpi/tables/table_writer.h"
#include "acpi/testing/acpica_tools.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::acpi {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kRsdpGpa = 0x7FFF'0000;
constexpr uint64_t kTablesGpa = 0x7C43'0000;

// The platform values the tests put in (the board's own come from the composition root).
constexpr uint64_t kGicDistBase = 0x0800'0000;
constexpr uint64_t kGicRedistBase = 0x080A'0000;
constexpr uint64_t kGicRedistHighBase = 0x40'0000'0000;
constexpr uint32_t kRedistLowCount = 123;
constexpr uint32_t kPmuGsiv = 23;
constexpr AcpiTimerGsivs kTimers{
    .secure_el1 = 29, .non_secure_el1 = 30, .virtual_el1 = 27, .non_secure_el2 = 26};
constexpr AcpiConsole kConsole{.base = 0x0900'0000, .gsiv = 33};

// KVM's MPIDR_EL1 for vCPU `id` (Aff0 = id & 0xf, Aff1 = id >> 4, Aff2 = id >> 12).
uint64_t KvmMpidr(uint32_t id) {
  return (id & 0xF) | (uint64_t{(id >> 4) & 0xFF} << 8) | (uint64_t{(id >> 12) & 0xFF} << 16);
}

// Device (TDEV) { _HID "VMMD0001", _UID 0, _CRS Memory32Fixed (0x0A000000, 0x1000),
// Method (_STA) { Return (0xF) } }: something for the DSDT to hold and acpiexec to run.
class TestDevice final : public AmlDescribed {
 public:
  absl::Status DescribeAml(AmlScope& sb) const override {
    using namespace aml;  // NOLINT(build/namespaces)
    sb.Add(Device("TDEV", {
                              Name("_HID", String("VMMD0001")),
                              Name("_UID", Zero()),
                              Name("_CRS", ResourceTemplate({Memory32Fixed(0x0A00'0000, 0x1000)})),
                              Method("_STA", 0, kNotSerialized, {Return(Int(0xF))}),
                          }));
    return absl::OkStatus();
  }
};

// `boot` boot vCPUs out of `possible`, KVM MPIDRs, redistributor regions split like the
// composition root does (123 low, the rest high).
struct Machine {
  Machine(uint32_t boot, uint32_t possible, bool pmu = true) {
    for (uint32_t i = 0; i < possible; ++i) {
      // KVM reports MPIDR_EL1 with the RES1 bit 31 set; the MADT must carry affinity only.
      platform.cpus.push_back({KvmMpidr(i) | (1ULL << 31), i < boot});
    }
    platform.gic_dist_base = kGicDistBase;
    const uint32_t low = std::min(possible, kRedistLowCount);
    platform.gic_redist_regions.push_back({kGicRedistBase, low});
    if (possible > low) platform.gic_redist_regions.push_back({kGicRedistHighBase, possible - low});
    platform.pmu = pmu;
    platform.pmu_gsiv = kPmuGsiv;
    platform.timers = kTimers;
    platform.console = kConsole;
    platform.dsdt_devices = {&device};
  }

  TestDevice device;
  AcpiPlatform platform;
};

const AcpiTableLocation* Find(const AcpiTables& t, std::string_view sig) {
  for (const AcpiTableLocation& l : t.locations) {
    if (l.signature == sig) return &l;
  }
  return nullptr;
}

std::vector<uint8_t> Slice(const std::vector<uint8_t>& blob, const AcpiTableLocation& l) {
  return std::vector<uint8_t>(blob.begin() + l.offset, blob.begin() + l.offset + l.length);
}

uint64_t Le(const std::vector<uint8_t>& b, size_t off, size_t n) { return ReadLe(b, off, n); }

struct Shape {
  uint32_t boot;
  uint32_t possible;
};

class AcpiTablesShapeTest : public ::testing::TestWithParam<Shape> {};

TEST_P(AcpiTablesShapeTest, LayoutChecksumsAndFixups) {
  const Shape shape = GetParam();
  Machine m(shape.boot, shape.possible);
  absl::StatusOr<AcpiTables> t = BuildAcpiTables(m.platform);
  ASSERT_THAT(t, IsOk());

  std::vector<std::string> order;
  size_t end = 0;
  for (const AcpiTableLocation& l : t->locations) {
    order.push_back(l.signature);
    EXPECT_EQ(l.offset % 8, 0u) << l.signature;
    EXPECT_LT(l.offset - end, 8u) << l.signature;  // only alignment padding in between
    for (size_t i = end; i < l.offset; ++i) EXPECT_EQ(t->tables[i], 0) << l.signature;
    EXPECT_EQ(std::string(t->tables.begin() + l.offset, t->tables.begin() + l.offset + 4),
              l.signature);
    EXPECT_EQ(Le(t->tables, l.offset + 4, 4), l.length) << l.signature;
    // The loader fills the checksum: it must be 0 in the blob (edk2 sums the byte itself).
    EXPECT_EQ(t->tables[l.offset + kTableChecksumOffset], 0) << l.signature;
    end = l.offset + l.length;
  }
  EXPECT_THAT(order, ElementsAre("DSDT", "FACP", "APIC", "GTDT", "SPCR", "PPTT", "XSDT"));
  EXPECT_EQ(end, t->tables.size());
  ASSERT_EQ(t->rsdp.size(), 36u);
  EXPECT_EQ(t->rsdp[8], 0);
  EXPECT_EQ(t->rsdp[32], 0);

  // Pointers: FADT.X_DSDT, the five XSDT entries, RSDP.XsdtAddress; values are blob offsets.
  const AcpiTableLocation* xsdt = Find(*t, "XSDT");
  ASSERT_NE(xsdt, nullptr);
  ASSERT_EQ(t->pointers.size(), 7u);
  EXPECT_EQ(t->pointers[0].offset, Find(*t, "FACP")->offset + 140);
  EXPECT_EQ(Le(t->tables, t->pointers[0].offset, 8), Find(*t, "DSDT")->offset);
  const char* entries[] = {"FACP", "APIC", "GTDT", "SPCR", "PPTT"};
  for (int i = 0; i < 5; ++i) {
    const AcpiPointerFixup& p = t->pointers[1 + i];
    EXPECT_EQ(p.blob, AcpiBlob::kTables);
    EXPECT_EQ(p.offset, xsdt->offset + 36 + 8 * i);
    EXPECT_EQ(Le(t->tables, p.offset, 8), Find(*t, entries[i])->offset) << entries[i];
  }
  EXPECT_EQ(t->pointers[6].blob, AcpiBlob::kRsdp);
  EXPECT_EQ(t->pointers[6].offset, 24u);
  EXPECT_EQ(Le(t->rsdp, 24, 8), xsdt->offset);
  for (const AcpiPointerFixup& p : t->pointers) {
    EXPECT_EQ(p.size, 8);
    EXPECT_EQ(p.pointee, AcpiBlob::kTables);
  }

  // Checksums: one per table, then the RSDP's 20-byte one before its 36-byte one.
  ASSERT_EQ(t->checksums.size(), t->locations.size() + 2);
  for (size_t i = 0; i < t->locations.size(); ++i) {
    const AcpiChecksumFixup& c = t->checksums[i];
    EXPECT_EQ(c.blob, AcpiBlob::kTables);
    EXPECT_EQ(c.start, t->locations[i].offset);
    EXPECT_EQ(c.length, t->locations[i].length);
    EXPECT_EQ(c.checksum_offset, t->locations[i].offset + 9);
  }
  const AcpiChecksumFixup& v1 = t->checksums[t->locations.size()];
  const AcpiChecksumFixup& v2 = t->checksums[t->locations.size() + 1];
  EXPECT_EQ(v1.blob, AcpiBlob::kRsdp);
  EXPECT_EQ(v1.start, 0u);
  EXPECT_EQ(v1.length, 20u);
  EXPECT_EQ(v1.checksum_offset, 8u);
  EXPECT_EQ(v2.blob, AcpiBlob::kRsdp);
  EXPECT_EQ(v2.length, 36u);
  EXPECT_EQ(v2.checksum_offset, 32u);

  // As the guest sees them: relocated, every checksum valid; also with base 0 (the values
  // before patching).
  for (uint64_t base : {uint64_t{0}, kTablesGpa}) {
    absl::StatusOr<AcpiImages> img = ApplyAcpiFixups(*t, kRsdpGpa, base);
    ASSERT_THAT(img, IsOk());
    for (const AcpiTableLocation& l : t->locations) {
      EXPECT_EQ(Sum8(Slice(img->tables, l)), 0) << l.signature << " base " << base;
    }
    EXPECT_EQ(Sum8(absl::MakeConstSpan(img->rsdp).subspan(0, 20)), 0);
    EXPECT_EQ(Sum8(img->rsdp), 0);
    EXPECT_EQ(Le(img->rsdp, 24, 8), base + xsdt->offset);
    EXPECT_EQ(Le(img->tables, Find(*t, "FACP")->offset + 140, 8), base + Find(*t, "DSDT")->offset);
  }
}

TEST_P(AcpiTablesShapeTest, IaslDisassemblesEveryTableWithoutComplaint) {
  const Shape shape = GetParam();
  Machine m(shape.boot, shape.possible);
  absl::StatusOr<AcpiTables> t = BuildAcpiTables(m.platform);
  ASSERT_THAT(t, IsOk());
  absl::StatusOr<AcpiImages> img = ApplyAcpiFixups(*t, kRsdpGpa, kTablesGpa);
  ASSERT_THAT(img, IsOk());
  absl::StatusOr<testing::TempDir> dir = testing::TempDir::Create();
  ASSERT_THAT(dir, IsOk());
  for (const AcpiTableLocation& l : t->locations) {
    absl::StatusOr<testing::Disassembly> d =
        testing::Disassemble(*dir, l.signature, Slice(img->tables, l));
    ASSERT_THAT(d, IsOk());
    EXPECT_THAT(testing::DisassemblyProblems(*d), IsEmpty())
        << l.signature << " " << shape.boot << "/" << shape.possible << "\n"
        << d->run.output;
    if (l.signature != "DSDT") {
      EXPECT_THAT(d->dsl, HasSubstr(absl::StrFormat("Table Length : %08X", l.length)));
    }
  }
  // iasl 20200925 does not take a bare RSDP ("does not contain a valid ACPI table"): decode it.
  EXPECT_EQ(std::string(img->rsdp.begin(), img->rsdp.begin() + 8), "RSD PTR ");
  EXPECT_EQ(std::string(img->rsdp.begin() + 9, img->rsdp.begin() + 15), "VMMD  ");
  EXPECT_EQ(img->rsdp[15], 2);
  EXPECT_EQ(Le(img->rsdp, 20, 4), 36u);
  EXPECT_EQ(Le(img->rsdp, 24, 8), kTablesGpa + Find(*t, "XSDT")->offset);
  EXPECT_EQ(Sum8(absl::MakeConstSpan(img->rsdp).subspan(0, 20)), 0);
  EXPECT_EQ(Sum8(img->rsdp), 0);
}

// ACPICA's own table manager (acpiexec builds an RSDP/XSDT around the tables it is given)
// accepts the whole set: FADT checks, checksums, the DSDT load, with no warning.
TEST_P(AcpiTablesShapeTest, AcpiexecLoadsTheWholeSet) {
  const Shape shape = GetParam();
  Machine m(shape.boot, shape.possible);
  absl::StatusOr<AcpiTables> t = BuildAcpiTables(m.platform);
  ASSERT_THAT(t, IsOk());
  absl::StatusOr<AcpiImages> img = ApplyAcpiFixups(*t, kRsdpGpa, kTablesGpa);
  ASSERT_THAT(img, IsOk());
  std::vector<std::vector<uint8_t>> files;
  for (const AcpiTableLocation& l : t->locations) {
    if (l.signature != "XSDT") files.push_back(Slice(img->tables, l));
  }
  absl::StatusOr<testing::TempDir> dir = testing::TempDir::Create();
  ASSERT_THAT(dir, IsOk());
  absl::StatusOr<testing::ToolRun> run =
      testing::AcpiExec(*dir, files, "execute \\_SB.TDEV._STA", 0x00);
  ASSERT_THAT(run, IsOk());
  for (const char* sig : {"FACP", "DSDT", "APIC", "GTDT", "SPCR", "PPTT"}) {
    EXPECT_THAT(run->output, HasSubstr(absl::StrCat("ACPI: ", sig))) << run->output;
  }
  EXPECT_THAT(run->output, HasSubstr("ACPI AML tables successfully acquired and loaded"));
  EXPECT_THAT(run->output, ::testing::Not(HasSubstr("ACPI Warning"))) << run->output;
  EXPECT_THAT(run->output, ::testing::Not(HasSubstr("ACPI Error"))) << run->output;
  EXPECT_THAT(run->output, ::testing::Not(HasSubstr("ACPI Exception"))) << run->output;
  const std::vector<testing::Evaluation> evals = testing::ParseAcpiExec(run->output);
  ASSERT_EQ(evals.size(), 1u) << run->output;
  EXPECT_TRUE(evals[0].has_integer);
  EXPECT_EQ(evals[0].integer, 0xFu);
}

TEST_P(AcpiTablesShapeTest, MadtDecodesBackFieldByField) {
  const Shape shape = GetParam();
  for (bool pmu : {true, false}) {
    Machine m(shape.boot, shape.possible, pmu);
    absl::StatusOr<AcpiTables> t = BuildAcpiTables(m.platform);
    ASSERT_THAT(t, IsOk());
    const std::vector<uint8_t> madt = Slice(t->tables, *Find(*t, "APIC"));
    const size_t regions = m.platform.gic_redist_regions.size();
    ASSERT_EQ(madt.size(), 44 + 24 + 80 * shape.possible + 16 * regions);
    EXPECT_EQ(madt[8], 5);           // revision
    EXPECT_EQ(Le(madt, 36, 4), 0u);  // local interrupt controller address
    EXPECT_EQ(Le(madt, 40, 4), 0u);  // flags
    // GICD
    EXPECT_EQ(madt[44], 0x0C);
    EXPECT_EQ(madt[45], 24);
    EXPECT_EQ(Le(madt, 48, 4), 0u);
    EXPECT_EQ(Le(madt, 52, 8), kGicDistBase);
    EXPECT_EQ(Le(madt, 60, 4), 0u);
    EXPECT_EQ(madt[64], 3);  // GICv3
    // GICC, one per possible vCPU, in vCPU order.
    for (uint32_t i = 0; i < shape.possible; ++i) {
      const size_t g = 68 + 80 * i;
      SCOPED_TRACE(absl::StrCat("GICC ", i));
      EXPECT_EQ(madt[g], 0x0B);
      EXPECT_EQ(madt[g + 1], 80);
      EXPECT_EQ(Le(madt, g + 2, 2), 0u);
      EXPECT_EQ(Le(madt, g + 4, 4), i);                              // CPU interface number
      EXPECT_EQ(Le(madt, g + 8, 4), i);                              // ACPI Processor UID
      EXPECT_EQ(Le(madt, g + 12, 4), i < shape.boot ? 0x1u : 0x8u);  // Enabled / Online-Capable
      EXPECT_EQ(Le(madt, g + 16, 4), 0u);                            // parking protocol
      EXPECT_EQ(Le(madt, g + 20, 4), pmu ? kPmuGsiv : 0u);
      for (size_t off = 24; off < 56; off += 8) EXPECT_EQ(Le(madt, g + off, 8), 0u) << off;
      EXPECT_EQ(Le(madt, g + 56, 4), 0u);                        // VGIC maintenance interrupt
      EXPECT_EQ(Le(madt, g + 60, 8), 0u);                        // GICR base: from the GICR entries
      EXPECT_EQ(Le(madt, g + 68, 8), KvmMpidr(i));               // bit 31 dropped
      EXPECT_EQ(Le(madt, g + 76, 4), 0u);  // efficiency class, reserved, SPE interrupt
    }
    // GICR, one per region, together covering every vCPU.
    uint64_t covered = 0;
    for (size_t r = 0; r < regions; ++r) {
      const size_t g = 68 + 80 * shape.possible + 16 * r;
      EXPECT_EQ(madt[g], 0x0E);
      EXPECT_EQ(madt[g + 1], 16);
      EXPECT_EQ(Le(madt, g + 4, 8), m.platform.gic_redist_regions[r].base);
      EXPECT_EQ(Le(madt, g + 12, 4), m.platform.gic_redist_regions[r].count * 0x2'0000ULL);
      covered += Le(madt, g + 12, 4) / 0x2'0000;
    }
    EXPECT_GE(covered, shape.possible);
    EXPECT_EQ(regions, shape.possible > 123 ? 2u : 1u);
  }
}

TEST_P(AcpiTablesShapeTest, PpttHasAPackageAndOneLeafPerPossibleCpu) {
  const Shape shape = GetParam();
  Machine m(shape.boot, shape.possible);
  absl::StatusOr<AcpiTables> t = BuildAcpiTables(m.platform);
  ASSERT_THAT(t, IsOk());
  const std::vector<uint8_t> pptt = Slice(t->tables, *Find(*t, "PPTT"));
  ASSERT_EQ(pptt.size(), 36 + 20 * (shape.possible + 1));
  EXPECT_EQ(pptt[8], 2);
  EXPECT_EQ(pptt[36], 0);
  EXPECT_EQ(pptt[37], 20);
  EXPECT_EQ(Le(pptt, 40, 4), 0x1u);  // physical package
  EXPECT_EQ(Le(pptt, 44, 4), 0u);
  for (uint32_t i = 0; i < shape.possible; ++i) {
    const size_t n = 56 + 20 * i;
    EXPECT_EQ(pptt[n], 0);
    EXPECT_EQ(pptt[n + 1], 20);
    EXPECT_EQ(Le(pptt, n + 4, 4), 0xAu);  // ACPI Processor ID valid | leaf
    EXPECT_EQ(Le(pptt, n + 8, 4), 36u);   // parent: the package
    EXPECT_EQ(Le(pptt, n + 12, 4), i);    // = GICC UID = DSDT _UID
    EXPECT_EQ(Le(pptt, n + 16, 4), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AcpiTablesShapeTest,
                         ::testing::Values(Shape{1, 1}, Shape{2, 4}, Shape{3, 7}, Shape{1, 512}),
                         [](const ::testing::TestParamInfo<Shape>& param_info) {
                           return absl::StrFormat("Boot%uOf%u", param_info.param.boot,
                                                  param_info.param.possible);
                         });

TEST(AcpiTablesTest, FixedTablesDecodeBack) {
  Machine m(2, 4);
  absl::StatusOr<AcpiTables> t = BuildAcpiTables(m.platform);
  ASSERT_THAT(t, IsOk());
  const std::vector<uint8_t> fadt = Slice(t->tables, *Find(*t, "FACP"));
  ASSERT_EQ(fadt.size(), 276u);
  EXPECT_EQ(fadt[8], 6);
  EXPECT_EQ(fadt[131], 5);                // minor revision: 6.5
  EXPECT_EQ(Le(fadt, 112, 4), 1u << 20);  // HW_REDUCED_ACPI only
  EXPECT_EQ(Le(fadt, 129, 2), 0x3u);      // PSCI_COMPLIANT | PSCI_USE_HVC
  EXPECT_EQ(Le(fadt, 36, 4), 0u);         // FACS
  EXPECT_EQ(Le(fadt, 40, 4), 0u);         // 32-bit DSDT
  EXPECT_EQ(Le(fadt, 132, 8), 0u);        // X_FACS
  EXPECT_EQ(Le(fadt, 140, 8), Find(*t, "DSDT")->offset);
  EXPECT_EQ(std::string(fadt.begin() + 268, fadt.end()), std::string("VMMD\0\0\0\0", 8));

  const std::vector<uint8_t> gtdt = Slice(t->tables, *Find(*t, "GTDT"));
  ASSERT_EQ(gtdt.size(), 104u);
  EXPECT_EQ(gtdt[8], 3);
  EXPECT_EQ(Le(gtdt, 36, 8), ~uint64_t{0});
  EXPECT_EQ(Le(gtdt, 80, 8), ~uint64_t{0});
  const uint32_t gsivs[] = {kTimers.secure_el1, kTimers.non_secure_el1, kTimers.virtual_el1,
                            kTimers.non_secure_el2};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Le(gtdt, 48 + 8 * i, 4), gsivs[i]) << i;
    EXPECT_EQ(Le(gtdt, 52 + 8 * i, 4), 0x4u) << i;  // level, active-high, always-on
  }
  EXPECT_EQ(Le(gtdt, 88, 4), 0u);  // platform timers
  EXPECT_EQ(Le(gtdt, 96, 8), 0u);  // virtual EL2 timer

  const std::vector<uint8_t> spcr = Slice(t->tables, *Find(*t, "SPCR"));
  ASSERT_EQ(spcr.size(), 80u);
  EXPECT_EQ(spcr[8], 2);
  EXPECT_EQ(spcr[36], 3);  // ARM PL011
  EXPECT_THAT(std::vector<uint8_t>(spcr.begin() + 40, spcr.begin() + 44), ElementsAre(0, 32, 0, 3));
  EXPECT_EQ(Le(spcr, 44, 8), kConsole.base);
  EXPECT_EQ(spcr[52], 0x8);  // GIC interrupt
  EXPECT_EQ(Le(spcr, 54, 4), kConsole.gsiv);
  EXPECT_EQ(Le(spcr, 64, 4), 0xFFFF'FFFFu);  // not PCI

  const std::vector<uint8_t> xsdt = Slice(t->tables, *Find(*t, "XSDT"));
  EXPECT_EQ(xsdt.size(), 36u + 5 * 8);
  EXPECT_EQ(xsdt[8], 1);
  EXPECT_EQ(std::string(t->rsdp.begin(), t->rsdp.begin() + 8), "RSD PTR ");
  EXPECT_EQ(t->rsdp[15], 2);
  EXPECT_EQ(Le(t->rsdp, 16, 4), 0u);
  EXPECT_EQ(Le(t->rsdp, 20, 4), 36u);
  // The header identification of every table.
  for (const AcpiTableLocation& l : t->locations) {
    const std::vector<uint8_t> table = Slice(t->tables, l);
    EXPECT_EQ(std::string(table.begin() + 10, table.begin() + 28),
              std::string("VMMD  VMMDVIRT\x01\0\0\0", 18))
        << l.signature;
  }
}

TEST(AcpiTablesTest, RejectsInvalidPlatforms) {
  auto expect_invalid = [](const AcpiPlatform& p, const std::string& what) {
    EXPECT_THAT(BuildAcpiTables(p), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(what)));
  };
  Machine m(1, 4);
  AcpiPlatform p = m.platform;
  p.cpus.clear();
  expect_invalid(p, "possible vCPUs");
  p = m.platform;
  p.cpus.assign(kMaxAcpiCpus + 1, {});
  expect_invalid(p, "possible vCPUs");
  p = m.platform;
  for (AcpiCpu& c : p.cpus) c.boot = false;
  expect_invalid(p, "no boot vCPU");
  p = m.platform;
  p.cpus[3].mpidr = p.cpus[1].mpidr & ~(1ULL << 31);  // same affinity, other non-affinity bits
  expect_invalid(p, "affinity of an earlier vCPU");
  p = m.platform;
  p.gic_redist_regions = {{kGicRedistBase, 3}};
  expect_invalid(p, "3 redistributors for 4 possible vCPUs");
  p.gic_redist_regions = {{kGicRedistBase, 4}, {kGicRedistHighBase, 0}};
  expect_invalid(p, "region 1");
  p.gic_redist_regions = {{kGicRedistBase, 0x8000}};
  expect_invalid(p, "region 0");
  p = m.platform;
  p.dsdt_devices.push_back(nullptr);
  expect_invalid(p, "null DSDT device");
}

class FailingDevice : public AmlDescribed {
 public:
  absl::Status DescribeAml(AmlScope&) const override {
    return absl::FailedPreconditionError("device not ready");
  }
};

TEST(AcpiTablesTest, DeviceErrorsPropagate) {
  Machine m(1, 2);
  FailingDevice failing;
  m.platform.dsdt_devices.push_back(&failing);
  EXPECT_THAT(BuildAcpiTables(m.platform),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("device not ready")));
}

TEST(AcpiTablesTest, ApplyFixupsChecksLikeEdk2) {
  Machine m(1, 2);
  absl::StatusOr<AcpiTables> good = BuildAcpiTables(m.platform);
  ASSERT_THAT(good, IsOk());
  AcpiTables t = *good;
  WriteLe(absl::MakeSpan(t.tables), t.pointers[0].offset, 8, t.tables.size());  // past the blob
  EXPECT_THAT(ApplyAcpiFixups(t, kRsdpGpa, kTablesGpa),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outside its pointee")));
  t = *good;
  t.pointers[0].size = 4;
  WriteLe(absl::MakeSpan(t.tables), t.pointers[0].offset, 8, 0);
  EXPECT_THAT(ApplyAcpiFixups(t, kRsdpGpa, 0xFFFF'FFFF'0000ULL),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not fit")));
  t = *good;
  t.pointers[0].offset = static_cast<uint32_t>(t.tables.size() - 4);
  EXPECT_THAT(ApplyAcpiFixups(t, kRsdpGpa, kTablesGpa),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outside its blob")));
  t = *good;
  t.pointers[0].size = 3;
  EXPECT_THAT(ApplyAcpiFixups(t, kRsdpGpa, kTablesGpa),
              StatusIs(absl::StatusCode::kInvalidArgument));
  t = *good;
  t.checksums[0].length = static_cast<uint32_t>(t.tables.size() + 1);
  EXPECT_THAT(ApplyAcpiFixups(t, kRsdpGpa, kTablesGpa),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("checksum fixup")));
  t = *good;
  t.checksums.back().checksum_offset = 36;
  EXPECT_THAT(ApplyAcpiFixups(t, kRsdpGpa, kTablesGpa),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("checksum fixup")));
}

}  // namespace
}  // namespace vmmd::acpi
