// AML builder tests: byte encodings derived by hand from ACPI 6.5 chapter 20, and whole
// constructs compared byte for byte with what iasl compiles from the equivalent ASL.
#include "acpi/aml.h"

#include <string>
#include <vector>

#include "acpi/aml_described.h"
#include "acpi/testing/acpica_tools.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::acpi {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;
using namespace aml;  // NOLINT(build/namespaces)

std::vector<uint8_t> Bytes(const AmlTerm& term) {
  absl::StatusOr<std::vector<uint8_t>> out = term.Encode();
  EXPECT_THAT(out, IsOk());
  return out.ok() ? *out : std::vector<uint8_t>{};
}

std::vector<uint8_t> Pkg(size_t payload) {
  std::vector<uint8_t> out;
  EXPECT_THAT(AppendPkgLength(payload, out), IsOk());
  return out;
}

std::vector<uint8_t> Seg(const char (&s)[5]) {
  return {static_cast<uint8_t>(s[0]), static_cast<uint8_t>(s[1]), static_cast<uint8_t>(s[2]),
          static_cast<uint8_t>(s[3])};
}

std::vector<uint8_t> Cat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Decodes a PkgLength at `bytes[pos]`: {value, encoded size}.
std::pair<size_t, size_t> DecodePkgLength(const std::vector<uint8_t>& bytes, size_t pos) {
  const uint8_t lead = bytes[pos];
  const size_t follow = lead >> 6;
  if (follow == 0) return {lead & 0x3F, 1};
  size_t value = lead & 0x0F;
  for (size_t i = 0; i < follow; ++i) value |= size_t{bytes[pos + 1 + i]} << (4 + 8 * i);
  return {value, follow + 1};
}

// ---- PkgLength ---------------------------------------------------------------------------------

TEST(AmlPkgLengthTest, BoundariesOfEachEncodedSize) {
  // The value counts the PkgLength bytes themselves.
  EXPECT_THAT(Pkg(0), ElementsAre(0x01));
  EXPECT_THAT(Pkg(62), ElementsAre(0x3F));                // 63 in one byte
  EXPECT_THAT(Pkg(63), ElementsAre(0x41, 0x04));          // 65 = 0x041 in two
  EXPECT_THAT(Pkg(4093), ElementsAre(0x4F, 0xFF));        // 4095 = 0xFFF, the two-byte maximum
  EXPECT_THAT(Pkg(4094), ElementsAre(0x81, 0x00, 0x01));  // 4097 = 0x01001 in three
  EXPECT_THAT(Pkg((1u << 20) - 4), ElementsAre(0x8F, 0xFF, 0xFF));        // 0xFFFFF
  EXPECT_THAT(Pkg((1u << 20) - 3), ElementsAre(0xC1, 0x00, 0x00, 0x01));  // 0x100001
  EXPECT_THAT(Pkg((1u << 28) - 5), ElementsAre(0xCF, 0xFF, 0xFF, 0xFF));  // 2^28 - 1
  std::vector<uint8_t> out;
  EXPECT_THAT(AppendPkgLength((1u << 28) - 4, out), StatusIs(absl::StatusCode::kOutOfRange));
}

TEST(AmlPkgLengthTest, FieldWidthsDoNotCountThemselves) {
  std::vector<uint8_t> out;
  ASSERT_THAT(AppendFieldLength(63, out), IsOk());
  ASSERT_THAT(AppendFieldLength(64, out), IsOk());
  ASSERT_THAT(AppendFieldLength(4096, out), IsOk());
  EXPECT_THAT(out, ElementsAre(0x3F, 0x40, 0x04, 0x80, 0x00, 0x01));
}

// Terms whose package is exactly 63, 64, 4095 and 4096 bytes long (PkgLength included), built
// as Buffers: the decoded PkgLength must cover exactly the rest of the term.
TEST(AmlPkgLengthTest, BuffersAtThePackageSizeBoundaries) {
  struct Case {
    size_t data;       // buffer bytes
    size_t pkg_value;  // expected PkgLength value
    size_t pkg_bytes;  // expected PkgLength size
  };
  // Payload = BufferSize encoding (0A nn / 0B nn nn) + data. No package is 64 bytes long: one
  // more byte of payload than 63 needs a second PkgLength byte (65); likewise 4096 -> 4097.
  for (const Case& c : {Case{60, 63, 1}, Case{61, 65, 2}, Case{4090, 4095, 2}, Case{4091, 4097, 3},
                        Case{4092, 4098, 3}}) {
    std::vector<uint8_t> data(c.data, 0xA5);
    const std::vector<uint8_t> bytes = Bytes(Buffer(data));
    ASSERT_GE(bytes.size(), 4u);
    EXPECT_EQ(bytes[0], 0x11);
    auto [value, size] = DecodePkgLength(bytes, 1);
    EXPECT_EQ(value, c.pkg_value) << c.data;
    EXPECT_EQ(size, c.pkg_bytes) << c.data;
    EXPECT_EQ(1 + value, bytes.size()) << c.data;
  }
}

TEST(AmlPkgLengthTest, NestedScopesStaySelfConsistent) {
  // A Device holding a Name with a big Buffer: every level's PkgLength covers its children.
  std::vector<uint8_t> data(5000, 1);
  const std::vector<uint8_t> bytes =
      Bytes(Scope("\\_SB", {Device("DEV0", {Name("BUF0", Buffer(data))})}));
  auto [scope_len, scope_pkg] = DecodePkgLength(bytes, 1);
  EXPECT_EQ(1 + scope_len, bytes.size());
  const size_t device_at = 1 + scope_pkg + 5;  // after "\_SB_"
  ASSERT_EQ(bytes[device_at], 0x5B);
  ASSERT_EQ(bytes[device_at + 1], 0x82);
  auto [device_len, device_pkg] = DecodePkgLength(bytes, device_at + 2);
  EXPECT_EQ(device_at + 2 + device_len, bytes.size());
  (void)device_pkg;
}

// ---- Data --------------------------------------------------------------------------------------

TEST(AmlDataTest, IntegersUseTheSmallestEncoding) {
  EXPECT_THAT(Bytes(Int(0)), ElementsAre(0x00));
  EXPECT_THAT(Bytes(Int(1)), ElementsAre(0x01));
  EXPECT_THAT(Bytes(Int(2)), ElementsAre(0x0A, 0x02));
  EXPECT_THAT(Bytes(Int(0xFF)), ElementsAre(0x0A, 0xFF));
  EXPECT_THAT(Bytes(Int(0x100)), ElementsAre(0x0B, 0x00, 0x01));
  EXPECT_THAT(Bytes(Int(0xFFFF)), ElementsAre(0x0B, 0xFF, 0xFF));
  EXPECT_THAT(Bytes(Int(0x10000)), ElementsAre(0x0C, 0x00, 0x00, 0x01, 0x00));
  EXPECT_THAT(Bytes(Int(0xFFFFFFFF)), ElementsAre(0x0C, 0xFF, 0xFF, 0xFF, 0xFF));
  EXPECT_THAT(Bytes(Int(0x1'0000'0000)),
              ElementsAre(0x0E, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00));
  EXPECT_THAT(Bytes(Int(0x0123'4567'89AB'CDEF)),
              ElementsAre(0x0E, 0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01));
  EXPECT_THAT(Bytes(Zero()), ElementsAre(0x00));
  EXPECT_THAT(Bytes(One()), ElementsAre(0x01));
  EXPECT_THAT(Bytes(Ones()), ElementsAre(0xFF));
}

TEST(AmlDataTest, StringsEisaIdsPackagesBuffers) {
  EXPECT_THAT(Bytes(String("ACPI0013")),
              ElementsAre(0x0D, 'A', 'C', 'P', 'I', '0', '0', '1', '3', 0x00));
  // "PNP" = 10000 01110 10000 -> 0x41D0, then 0x0A06: stored big-endian.
  EXPECT_THAT(Bytes(EisaId("PNP0A06")), ElementsAre(0x0C, 0x41, 0xD0, 0x0A, 0x06));
  EXPECT_THAT(Bytes(EisaId("PNP0A05")), ElementsAre(0x0C, 0x41, 0xD0, 0x0A, 0x05));
  EXPECT_THAT(Bytes(Package({One(), Int(0x20)})), ElementsAre(0x12, 0x05, 0x02, 0x01, 0x0A, 0x20));
  EXPECT_THAT(Bytes(Buffer(std::vector<uint8_t>{1, 2, 3})),
              ElementsAre(0x11, 0x06, 0x0A, 0x03, 1, 2, 3));
  EXPECT_THAT(Bytes(Buffer(std::vector<uint8_t>{})), ElementsAre(0x11, 0x02, 0x00));
}

TEST(AmlDataTest, MalformedDataCarriesAnError) {
  EXPECT_THAT(EisaId("ACPI0007").Encode(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(EisaId("pnp0a06").Encode(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(EisaId("PNP0G06").Encode(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(String("tab\there").Encode(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Package(std::vector<AmlTerm>(256, Zero())).Encode(),
              StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(Local(8).Encode(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Arg(7).Encode(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Local(-1).Encode(), StatusIs(absl::StatusCode::kInvalidArgument));
  // The error surfaces from deep inside a tree.
  EXPECT_THAT(Scope("\\_SB", {Device("DEV0", {Store(Local(9), Local(0))})}).Encode(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Local9")));
}

// ---- Names -------------------------------------------------------------------------------------

TEST(AmlNameTest, NameStrings) {
  EXPECT_THAT(*EncodeNameString("GED"), ElementsAreArray(Seg("GED_")));
  EXPECT_THAT(*EncodeNameString("_SB"), ElementsAreArray(Seg("_SB_")));
  EXPECT_THAT(*EncodeNameString("\\_SB.GED"),
              ElementsAreArray(Cat({{0x5C, 0x2E}, Seg("_SB_"), Seg("GED_")})));
  EXPECT_THAT(*EncodeNameString("\\_SB.CPUS.C001"),
              ElementsAreArray(Cat({{0x5C, 0x2F, 0x03}, Seg("_SB_"), Seg("CPUS"), Seg("C001")})));
  EXPECT_THAT(*EncodeNameString("^^CSTA"), ElementsAreArray(Cat({{0x5E, 0x5E}, Seg("CSTA")})));
  EXPECT_THAT(*EncodeNameString("^PRES.CSEL"),
              ElementsAreArray(Cat({{0x5E, 0x2E}, Seg("PRES"), Seg("CSEL")})));
  EXPECT_THAT(*EncodeNameString("\\"), ElementsAre(0x5C, 0x00));
  EXPECT_THAT(*EncodeNameString("\\_SB"), ElementsAreArray(Cat({{0x5C}, Seg("_SB_")})));
  for (const char* bad : {"", "TOOLONG", "1ABC", "abc", "A.B..C", "\\\\_SB", "\\^A", "A-B", "A."}) {
    EXPECT_THAT(EncodeNameString(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

TEST(AmlNameTest, CallsAndReferences) {
  EXPECT_THAT(Bytes(Call("\\_SB.CPUS.CSCN")),
              ElementsAreArray(Cat({{0x5C, 0x2F, 0x03}, Seg("_SB_"), Seg("CPUS"), Seg("CSCN")})));
  EXPECT_THAT(Bytes(Call("CSTA", {Int(5)})), ElementsAreArray(Cat({Seg("CSTA"), {0x0A, 0x05}})));
  EXPECT_THAT(Bytes(Call("COST", {Int(2), Arg(0), Arg(1), Arg(2)})),
              ElementsAreArray(Cat({Seg("COST"), {0x0A, 0x02, 0x68, 0x69, 0x6A}})));
  EXPECT_THAT(Call("X", std::vector<AmlTerm>(8, Zero())).Encode(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---- Objects and statements --------------------------------------------------------------------

TEST(AmlObjectTest, MethodFlags) {
  EXPECT_THAT(Bytes(Method("_EVT", 1, kSerialized, {})),
              ElementsAreArray(Cat({{0x14, 0x06}, Seg("_EVT"), {0x09}})));
  EXPECT_THAT(Bytes(Method("CSTA", 2, kNotSerialized, {}, 3)),
              ElementsAreArray(Cat({{0x14, 0x06}, Seg("CSTA"), {0x32}})));
  EXPECT_THAT(Method("BAD0", 8, kSerialized, {}).Encode(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Method("BAD0", 0, kSerialized, {}, 16).Encode(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(AmlObjectTest, RegionFieldMutexAcquireRelease) {
  EXPECT_THAT(Bytes(OperationRegion("EREG", RegionSpace::kSystemMemory, Int(0x09080000), Int(4))),
              ElementsAreArray(Cat(
                  {{0x5B, 0x80}, Seg("EREG"), {0x00, 0x0C, 0x00, 0x00, 0x08, 0x09, 0x0A, 0x04}})));
  // ByteAcc | NoLock | WriteAsZeros = 0x41; Offset (4) becomes 32 reserved bits.
  EXPECT_THAT(
      Bytes(Field("PRST", FieldAccess::kByte, FieldLock::kNoLock, FieldUpdate::kWriteAsZeros,
                  {FieldOffset(4), FieldUnit("CPEN", 1), FieldUnit("CINS", 1), FieldReserved(6),
                   FieldUnit("CCMD", 8)})),
      ElementsAreArray(Cat({{0x5B, 0x81, 0x19},
                            Seg("PRST"),
                            {0x41, 0x00, 0x20},
                            Seg("CPEN"),
                            {0x01},
                            Seg("CINS"),
                            {0x01, 0x00, 0x06},
                            Seg("CCMD"),
                            {0x08}})));
  // DWordAcc | Lock | Preserve = 0x13.
  EXPECT_THAT(
      Bytes(Field("EREG", FieldAccess::kDWord, FieldLock::kLock, FieldUpdate::kPreserve,
                  {FieldUnit("ESEL", 32)})),
      ElementsAreArray(Cat({{0x5B, 0x81, 0x0B}, Seg("EREG"), {0x13}, Seg("ESEL"), {0x20}})));
  EXPECT_THAT(Field("R", FieldAccess::kByte, FieldLock::kNoLock, FieldUpdate::kPreserve,
                    {FieldUnit("A", 16), FieldOffset(1)})
                  .Encode(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Offset")));
  EXPECT_THAT(Field("R", FieldAccess::kByte, FieldLock::kNoLock, FieldUpdate::kPreserve,
                    {FieldUnit("TOOLONG", 1)})
                  .Encode(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Bytes(Mutex("CPLK")), ElementsAreArray(Cat({{0x5B, 0x01}, Seg("CPLK"), {0x00}})));
  EXPECT_THAT(Bytes(Acquire(Path("CPLK"), 0xFFFF)),
              ElementsAreArray(Cat({{0x5B, 0x23}, Seg("CPLK"), {0xFF, 0xFF}})));
  EXPECT_THAT(Bytes(Release(Path("CPLK"))), ElementsAreArray(Cat({{0x5B, 0x27}, Seg("CPLK")})));
}

TEST(AmlStatementTest, ControlFlowAndExpressions) {
  // If (LEqual (And (Local0, 8), 8)) { Notify (C001, 1) } Else { Return (Zero) }
  EXPECT_THAT(
      Bytes(IfElse(LEqual(And(Local(0), Int(8)), Int(8)), {Notify(Path("C001"), One())},
                   {Return(Zero())})),
      ElementsAreArray(Cat({{0xA0, 0x0F, 0x93, 0x7B, 0x60, 0x0A, 0x08, 0x00, 0x0A, 0x08, 0x86},
                            Seg("C001"),
                            {0x01, 0xA1, 0x03, 0xA4, 0x00}})));
  EXPECT_THAT(Bytes(While(LLess(Local(1), Int(3)), {Increment(Local(1)), Break()})),
              ElementsAre(0xA2, 0x08, 0x95, 0x61, 0x0A, 0x03, 0x75, 0x61, 0xA5));
  EXPECT_THAT(Bytes(Store(Arg(0), Path("CSEL"))),
              ElementsAreArray(Cat({{0x70, 0x68}, Seg("CSEL")})));
  EXPECT_THAT(Bytes(Add(Local(0), One(), Local(0))), ElementsAre(0x72, 0x60, 0x01, 0x60));
  EXPECT_THAT(Bytes(Subtract(Local(0), One())), ElementsAre(0x74, 0x60, 0x01, 0x00));
  EXPECT_THAT(Bytes(Or(Local(0), Int(4), Local(2))), ElementsAre(0x7D, 0x60, 0x0A, 0x04, 0x62));
  EXPECT_THAT(Bytes(ShiftLeft(One(), Arg(1))), ElementsAre(0x79, 0x01, 0x69, 0x00));
  EXPECT_THAT(Bytes(ShiftRight(Local(3), Int(32), Local(3))),
              ElementsAre(0x7A, 0x63, 0x0A, 0x20, 0x63));
  EXPECT_THAT(Bytes(LAnd(LNot(Local(0)), LGreater(Local(1), Zero()))),
              ElementsAre(0x90, 0x92, 0x60, 0x94, 0x61, 0x00));
  EXPECT_THAT(Bytes(LOr(Zero(), One())), ElementsAre(0x91, 0x00, 0x01));
  EXPECT_THAT(Bytes(Decrement(Local(7))), ElementsAre(0x76, 0x67));
  EXPECT_THAT(Bytes(ToInteger(Arg(6))), ElementsAre(0x99, 0x6E, 0x00));
  EXPECT_THAT(Bytes(Store(DerefOf(Index(Arg(3), Int(2))), Local(4))),
              ElementsAre(0x70, 0x83, 0x88, 0x6B, 0x0A, 0x02, 0x00, 0x64));
  EXPECT_THAT(Bytes(SizeOf(Arg(0))), ElementsAre(0x87, 0x68));
}

TEST(AmlResourceTest, DescriptorsAndEndTag) {
  EXPECT_THAT(Bytes(ResourceTemplate({Memory32Fixed(0x090C0000, 0x0C)})),
              ElementsAre(0x11, 0x11, 0x0A, 0x0E,                          // Buffer (14)
                          0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x0C, 0x09,  // base
                          0x0C, 0x00, 0x00, 0x00,                          // length
                          0x79, 0x00));
  // Consumer | Edge | ActiveHigh | Exclusive = 0x03, one GSIV (41).
  EXPECT_THAT(Bytes(ResourceTemplate({Interrupt({.edge = true}, {41})})),
              ElementsAre(0x11, 0x0E, 0x0A, 0x0B, 0x89, 0x06, 0x00, 0x03, 0x01, 0x29, 0x00, 0x00,
                          0x00, 0x79, 0x00));
  // Producer | Level | ActiveLow | Shared | Wake = 0x1C, two GSIVs.
  EXPECT_THAT(Bytes(ResourceTemplate(
                  {Interrupt({.consumer = false, .active_low = true, .shared = true, .wake = true},
                             {33, 0x12345678})})),
              ElementsAre(0x11, 0x12, 0x0A, 0x0F, 0x89, 0x0A, 0x00, 0x1C, 0x02, 0x21, 0x00, 0x00,
                          0x00, 0x78, 0x56, 0x34, 0x12, 0x79, 0x00));
  EXPECT_THAT(Bytes(ResourceTemplate({Memory32Fixed(0, 1, false)}))[7], 0x00);  // read-only
  EXPECT_THAT(ResourceTemplate({Interrupt({}, {})}).Encode(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---- Against iasl ------------------------------------------------------------------------------

class AmlVersusIaslTest : public ::testing::Test {
 protected:
  // The AML body (after the 36-byte header) iasl produces for `body` inside a DSDT.
  std::vector<uint8_t> Compile(const std::string& body) {
    absl::StatusOr<testing::TempDir> dir = testing::TempDir::Create();
    EXPECT_THAT(dir, IsOk());
    if (!dir.ok()) return {};
    absl::StatusOr<std::vector<uint8_t>> aml = testing::CompileAsl(
        *dir,
        "DefinitionBlock (\"\", \"DSDT\", 2, \"VMMD\", \"VMMDVIRT\", 1) {\n" + body + "\n}\n");
    EXPECT_THAT(aml, IsOk());
    if (!aml.ok() || aml->size() < 36) return {};
    return std::vector<uint8_t>(aml->begin() + 36, aml->end());
  }
};

TEST_F(AmlVersusIaslTest, DeviceWithResourcesRegionFieldAndMethod) {
  const std::vector<uint8_t> golden = Compile(R"(
    Scope (\_SB) {
      Device (DEV0) {
        Name (_HID, "ACPI0013")
        Name (_CID, EisaId ("PNP0A06"))
        Name (_UID, Zero)
        Name (_CRS, ResourceTemplate () {
          Memory32Fixed (ReadWrite, 0x090C0000, 0x0000000C)
          Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 41 }
        })
        Mutex (MLCK, 0)
        OperationRegion (REGN, SystemMemory, 0x090C0000, 0x0C)
        Field (REGN, ByteAcc, NoLock, WriteAsZeros) {
          Offset (4), FLDA, 1, FLDB, 1, , 2, FLDC, 4, FLDD, 8
        }
        Field (REGN, DWordAcc, NoLock, Preserve) { SEL0, 32, , 32, DAT0, 32 }
        Method (MTH0, 2, Serialized) {
          Acquire (MLCK, 0xFFFF)
          SEL0 = Arg0
          Local0 = Zero
          Local1 = Zero
          If ((FLDB == One)) { Local0 = 0x0D } Else { Local0 = 0x1234 }
          While ((Local1 < 0x00010000)) { Local1++ }
          Notify (\_SB.DEV0, Arg1)
          Release (MLCK)
          Return (Local0)
        }
        Method (MTH1, 0, NotSerialized) { Return (MTH0 (0x05, 0x03)) }
      }
    })");
  // clang-format off
  const AmlTerm term = Scope("\\_SB", {Device("DEV0", {
      Name("_HID", String("ACPI0013")),
      Name("_CID", EisaId("PNP0A06")),
      Name("_UID", Zero()),
      Name("_CRS", ResourceTemplate({Memory32Fixed(0x090C0000, 0x0C),
                                      Interrupt({.edge = true}, {41})})),
      Mutex("MLCK"),
      OperationRegion("REGN", RegionSpace::kSystemMemory, Int(0x090C0000), Int(0x0C)),
      Field("REGN", FieldAccess::kByte, FieldLock::kNoLock, FieldUpdate::kWriteAsZeros,
            {FieldOffset(4), FieldUnit("FLDA", 1), FieldUnit("FLDB", 1), FieldReserved(2),
             FieldUnit("FLDC", 4), FieldUnit("FLDD", 8)}),
      Field("REGN", FieldAccess::kDWord, FieldLock::kNoLock, FieldUpdate::kPreserve,
            {FieldUnit("SEL0", 32), FieldReserved(32), FieldUnit("DAT0", 32)}),
      Method("MTH0", 2, kSerialized, {
          Acquire(Path("MLCK"), 0xFFFF),
          Store(Arg(0), Path("SEL0")),
          Store(Zero(), Local(0)),
          Store(Zero(), Local(1)),
          IfElse(LEqual(Path("FLDB"), One()), {Store(Int(0x0D), Local(0))},
                 {Store(Int(0x1234), Local(0))}),
          While(LLess(Local(1), Int(0x10000)), {Increment(Local(1))}),
          Notify(Path("\\_SB.DEV0"), Arg(1)),
          Release(Path("MLCK")),
          Return(Local(0)),
      }),
      Method("MTH1", 0, kNotSerialized, {Return(Call("MTH0", {Int(5), Int(3)}))}),
  })});
  // clang-format on
  EXPECT_THAT(Bytes(term), ElementsAreArray(golden));
}

TEST_F(AmlVersusIaslTest, PackagesBuffersAndLongNames) {
  const std::vector<uint8_t> golden = Compile(R"(
    Name (\PKG0, Package () { One, 0x20, "AB", Package () { 0x0100 } })
    Name (\BUF0, Buffer () { 0x01, 0x02, 0x03 })
    Name (\QWD0, 0x0000000100000000)
    Scope (\_SB) { Device (A) { Name (_ADR, Zero) Device (B) { Name (_ADR, Zero)
      Device (C) { Name (_ADR, Zero) Name (_UID, 0xFFFFFFFF) } } } }
    Name (\_SB.A.B.C.VAL0, Ones)
  )");
  // clang-format off
  std::vector<AmlTerm> terms{
      Name("\\PKG0", Package({One(), Int(0x20), String("AB"), Package({Int(0x100)})})),
      Name("\\BUF0", Buffer(std::vector<uint8_t>{1, 2, 3})),
      Name("\\QWD0", Int(0x1'0000'0000)),
      Scope("\\_SB", {Device("A", {Name("_ADR", Zero()), Device("B", {Name("_ADR", Zero()),
          Device("C", {Name("_ADR", Zero()), Name("_UID", Int(0xFFFFFFFF))})})})}),
      Name("\\_SB.A.B.C.VAL0", Ones()),
  };
  // clang-format on
  std::vector<uint8_t> ours;
  for (const AmlTerm& t : terms) ASSERT_THAT(t.AppendTo(ours), IsOk());
  EXPECT_THAT(ours, ElementsAreArray(golden));
}

TEST(AmlScopeTest, CollectsTermsIntoAScope) {
  AmlScope sb("\\_SB");
  sb.Add(Device("GED", {}));
  EXPECT_EQ(sb.terms().size(), 1u);
  EXPECT_THAT(
      Bytes(sb.ToTerm()),
      ElementsAreArray(Cat({{0x10, 0x0D, 0x5C}, Seg("_SB_"), {0x5B, 0x82, 0x05}, Seg("GED_")})));
}

}  // namespace
}  // namespace vmmd::acpi
