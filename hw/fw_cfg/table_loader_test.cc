#include "hw/fw_cfg/table_loader.h"

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::hw {
namespace {

using table_loader::Zone;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

// A 128-byte command built by hand from the QemuLoader.h layout.
class Cmd {
 public:
  explicit Cmd(uint32_t type) : bytes_(128, 0) { Le(0, type, 4); }
  Cmd& Name(size_t at, const std::string& name) {
    std::memcpy(bytes_.data() + at, name.data(), name.size());
    return *this;
  }
  Cmd& Le(size_t at, uint64_t value, size_t size) {
    for (size_t i = 0; i < size; ++i) bytes_[at + i] = static_cast<uint8_t>(value >> (8 * i));
    return *this;
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

std::vector<uint8_t> Concat(std::initializer_list<Cmd> cmds) {
  std::vector<uint8_t> out;
  for (const Cmd& c : cmds) out.insert(out.end(), c.bytes().begin(), c.bytes().end());
  return out;
}

TEST(TableLoaderTest, CommandsAreByteExact) {
  TableLoader loader;
  // Commands 0, 1, 3, 21 and 22 of QEMU 10.0.2's virt script (table-loader.decoded.txt).
  ASSERT_THAT(loader.Allocate("etc/acpi/rsdp", 0x10, Zone::kFseg), IsOk());
  ASSERT_THAT(loader.Allocate("etc/acpi/tables", 0x40, Zone::kHigh), IsOk());
  ASSERT_THAT(loader.AddPointer("etc/acpi/tables", "etc/acpi/tables", 0x14f4, 8), IsOk());
  ASSERT_THAT(loader.AddChecksum("etc/acpi/rsdp", 0x8, 0x0, 0x14), IsOk());
  ASSERT_THAT(loader.AddPointer("etc/acpi/rsdp", "etc/acpi/tables", 0x18, 8), IsOk());
  EXPECT_EQ(loader.command_count(), 5u);

  const std::vector<uint8_t> expected = Concat({
      Cmd(1).Name(4, "etc/acpi/rsdp").Le(60, 0x10, 4).Le(64, 2, 1),
      Cmd(1).Name(4, "etc/acpi/tables").Le(60, 0x40, 4).Le(64, 1, 1),
      Cmd(2)
          .Name(4, "etc/acpi/tables")
          .Name(60, "etc/acpi/tables")
          .Le(116, 0x14f4, 4)
          .Le(120, 8, 1),
      Cmd(3).Name(4, "etc/acpi/rsdp").Le(60, 0x8, 4).Le(64, 0x0, 4).Le(68, 0x14, 4),
      Cmd(2).Name(4, "etc/acpi/rsdp").Name(60, "etc/acpi/tables").Le(116, 0x18, 4).Le(120, 8, 1),
  });
  const std::vector<uint8_t> got = loader.Serialize();
  ASSERT_EQ(got.size(), 5u * 128);
  EXPECT_EQ(got, expected);
  // Spot-check raw offsets, independent of the helper above.
  EXPECT_EQ(got[0], 1);
  EXPECT_EQ(got[4], 'e');
  EXPECT_EQ(got[4 + 13], 0);  // NUL after "etc/acpi/rsdp"
  EXPECT_EQ(got[60], 0x10);   // alignment, little-endian
  EXPECT_EQ(got[64], 2);      // FSEG
  EXPECT_EQ(got[256 + 116], 0xf4);
  EXPECT_EQ(got[256 + 117], 0x14);
  EXPECT_EQ(got[256 + 120], 8);
  EXPECT_EQ(got[384 + 68], 0x14);
}

TEST(TableLoaderTest, FiftyFiveCharacterNamesKeepTheirNul) {
  TableLoader loader;
  const std::string name(55, 'x');
  ASSERT_THAT(loader.Allocate(name, 4096, Zone::kHigh), IsOk());
  const std::vector<uint8_t> got = loader.Serialize();
  EXPECT_EQ(got[4 + 54], 'x');
  EXPECT_EQ(got[4 + 55], 0);
  EXPECT_EQ(got[60], 0x00);
  EXPECT_EQ(got[61], 0x10);  // 4096
}

TEST(TableLoaderTest, RejectsWhatEdk2Rejects) {
  TableLoader loader;
  EXPECT_THAT(loader.Allocate("", 16, Zone::kHigh), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(loader.Allocate(std::string(56, 'a'), 16, Zone::kHigh),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(loader.Allocate("t", 0, Zone::kHigh), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(loader.Allocate("t", 24, Zone::kHigh), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(loader.Allocate("t", 8192, Zone::kHigh),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(loader.Allocate("t", 16, static_cast<Zone>(3)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(loader.AddChecksum("t", 0, 0, 1), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_THAT(loader.Allocate("t", 16, Zone::kHigh), IsOk());
  EXPECT_THAT(loader.Allocate("t", 16, Zone::kHigh), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(loader.AddPointer("t", "u", 0, 8), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(loader.AddPointer("t", "t", 0, 3), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(loader.command_count(), 1u);
}

TEST(TableLoaderTest, ValidatesAgainstTheFwCfgFiles) {
  FwCfgItems items;
  std::vector<uint8_t> rsdp(36, 0);
  rsdp[0x18] = 0x20;  // relative XSDT pointer
  ASSERT_THAT(items.AddFile("etc/acpi/rsdp", rsdp), IsOk());
  ASSERT_THAT(items.AddFile("etc/acpi/tables", std::vector<uint8_t>(0x40, 0)), IsOk());

  TableLoader good;
  ASSERT_THAT(good.Allocate("etc/acpi/rsdp", 16, Zone::kFseg), IsOk());
  ASSERT_THAT(good.Allocate("etc/acpi/tables", 64, Zone::kHigh), IsOk());
  ASSERT_THAT(good.AddPointer("etc/acpi/rsdp", "etc/acpi/tables", 0x18, 8), IsOk());
  ASSERT_THAT(good.AddChecksum("etc/acpi/rsdp", 0x20, 0, 0x24), IsOk());
  EXPECT_THAT(good.Validate(items), IsOk());

  TableLoader missing;
  ASSERT_THAT(missing.Allocate("etc/acpi/nope", 16, Zone::kHigh), IsOk());
  EXPECT_THAT(missing.Validate(items), StatusIs(absl::StatusCode::kFailedPrecondition));

  TableLoader pointer_outside;
  ASSERT_THAT(pointer_outside.Allocate("etc/acpi/rsdp", 16, Zone::kFseg), IsOk());
  ASSERT_THAT(pointer_outside.Allocate("etc/acpi/tables", 64, Zone::kHigh), IsOk());
  ASSERT_THAT(pointer_outside.AddPointer("etc/acpi/rsdp", "etc/acpi/tables", 0x1d, 8), IsOk());
  EXPECT_THAT(pointer_outside.Validate(items), StatusIs(absl::StatusCode::kOutOfRange));

  FwCfgItems bad_value_items;
  std::vector<uint8_t> bad_rsdp(36, 0);
  bad_rsdp[0x18] = 0x40;  // equal to the pointee's size: points past its end
  ASSERT_THAT(bad_value_items.AddFile("etc/acpi/rsdp", bad_rsdp), IsOk());
  ASSERT_THAT(bad_value_items.AddFile("etc/acpi/tables", std::vector<uint8_t>(0x40, 0)), IsOk());
  EXPECT_THAT(good.Validate(bad_value_items), StatusIs(absl::StatusCode::kOutOfRange));

  TableLoader checksum_outside;
  ASSERT_THAT(checksum_outside.Allocate("etc/acpi/rsdp", 16, Zone::kFseg), IsOk());
  ASSERT_THAT(checksum_outside.AddChecksum("etc/acpi/rsdp", 36, 0, 20), IsOk());
  EXPECT_THAT(checksum_outside.Validate(items), StatusIs(absl::StatusCode::kOutOfRange));
  TableLoader range_outside;
  ASSERT_THAT(range_outside.Allocate("etc/acpi/rsdp", 16, Zone::kFseg), IsOk());
  ASSERT_THAT(range_outside.AddChecksum("etc/acpi/rsdp", 8, 20, 17), IsOk());
  EXPECT_THAT(range_outside.Validate(items), StatusIs(absl::StatusCode::kOutOfRange));
}

}  // namespace
}  // namespace vmmd::hw
