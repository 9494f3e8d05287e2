#include "core/arch/aarch64/efi_handoff.h"

#include <libfdt.h>
#include <zlib.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::core::aarch64 {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kRam = 0x4000'0000;
constexpr uint64_t kRamSize = 1ULL << 30;
constexpr uint64_t kReserved = 0x7fe0'0000;  // the last 2 MiB block of the first GiB

uint64_t Get64(const std::vector<uint8_t>& b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b.at(at + i);
  return v;
}
uint32_t Get32(const std::vector<uint8_t>& b, size_t at) {
  return static_cast<uint32_t>(b.at(at) | b.at(at + 1) << 8 | b.at(at + 2) << 16) |
         uint32_t{b.at(at + 3)} << 24;
}

EfiHandoffConfig Config() {
  return EfiHandoffConfig{.ram_base = kRam,
                          .ram_size = kRamSize,
                          .reserved_base = kReserved,
                          .reserved_size = 0x4'0000,
                          .address = kReserved + 0x1'0000,
                          .rsdp_address = kReserved + 0x2'0000};
}

TEST(EfiHandoffTest, SystemTablePointsAtTheRsdpAndTheVendor) {
  absl::StatusOr<EfiHandoff> h = BuildEfiHandoff(Config());
  ASSERT_THAT(h, IsOk());
  const std::vector<uint8_t>& b = h->blob;
  const uint64_t at = Config().address;
  EXPECT_EQ(h->params.system_table, at);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 8), "IBI SYST");
  EXPECT_EQ(Get32(b, 8), (2u << 16) | 70u);  // EFI 2.70
  EXPECT_EQ(Get32(b, 12), 120u);             // HeaderSize: the whole table
  // The CRC32 of the 120 bytes with the CRC field zero.
  std::vector<uint8_t> zeroed(b.begin(), b.begin() + 120);
  zeroed[16] = zeroed[17] = zeroed[18] = zeroed[19] = 0;
  EXPECT_EQ(Get32(b, 16), static_cast<uint32_t>(::crc32(0L, zeroed.data(), 120)));
  // No console, no runtime or boot services.
  for (size_t field = 40; field <= 96; field += 8) EXPECT_EQ(Get64(b, field), 0u) << field;
  // One configuration table: ACPI_20_TABLE_GUID -> the RSDP.
  EXPECT_EQ(Get64(b, 104), 1u);
  const uint64_t config = Get64(b, 112) - at;
  EXPECT_THAT(std::vector<uint8_t>(b.begin() + config, b.begin() + config + 16),
              ElementsAre(0x71, 0xe8, 0x68, 0x88, 0xf1, 0xe4, 0xd3, 0x11, 0xbc, 0x22, 0x00, 0x80,
                          0xc7, 0x3c, 0x88, 0x81));
  EXPECT_EQ(Get64(b, config + 16), Config().rsdp_address);
  // The firmware vendor: NUL-terminated UCS-2.
  const uint64_t vendor = Get64(b, 24) - at;
  EXPECT_THAT(std::vector<uint8_t>(b.begin() + vendor, b.begin() + vendor + 10),
              ElementsAre('v', 0, 'm', 0, 'm', 0, 'd', 0, 0, 0));
}

TEST(EfiHandoffTest, MemoryMapIsRamWithTheReservedRegionAsAcpiReclaim) {
  absl::StatusOr<EfiHandoff> h = BuildEfiHandoff(Config());
  ASSERT_THAT(h, IsOk());
  const std::vector<uint8_t>& b = h->blob;
  EXPECT_EQ(h->params.mmap_desc_size, 40u);
  EXPECT_EQ(h->params.mmap_desc_ver, 1u);
  ASSERT_EQ(h->params.mmap_size, 3u * 40);
  const size_t map = h->params.mmap_start - Config().address;
  ASSERT_EQ(map % 8, 0u);
  ASSERT_EQ(b.size(), map + 120);
  struct Desc {
    uint32_t type;
    uint64_t base, pages;
  };
  const Desc want[] = {{7, kRam, (kReserved - kRam) / 4096},
                       {9, kReserved, 0x4'0000 / 4096},
                       {7, kReserved + 0x4'0000, (kRam + kRamSize - kReserved - 0x4'0000) / 4096}};
  for (size_t i = 0; i < 3; ++i) {
    const size_t d = map + i * 40;
    EXPECT_EQ(Get32(b, d), want[i].type) << i;
    EXPECT_EQ(Get64(b, d + 8), want[i].base) << i;
    EXPECT_EQ(Get64(b, d + 16), 0u) << i;  // no virtual address: no runtime mapping
    EXPECT_EQ(Get64(b, d + 24), want[i].pages) << i;
    EXPECT_EQ(Get64(b, d + 32), 0xfu) << i;  // UC | WC | WT | WB
  }
}

TEST(EfiHandoffTest, ReservedRegionAtEitherEndOfRamLeavesOneConventionalRange) {
  EfiHandoffConfig c = Config();
  c.reserved_base = kRam;
  c.address = kRam;
  c.rsdp_address = kRam + 0x1000;
  absl::StatusOr<EfiHandoff> h = BuildEfiHandoff(c);
  ASSERT_THAT(h, IsOk());
  ASSERT_EQ(h->params.mmap_size, 2u * 40);
  const size_t map = h->params.mmap_start - c.address;
  EXPECT_EQ(Get32(h->blob, map), 9u);
  EXPECT_EQ(Get32(h->blob, map + 40), 7u);

  c.reserved_base = kRam + kRamSize - 0x4'0000;
  c.address = c.reserved_base;
  c.rsdp_address = c.reserved_base + 0x1000;
  h = BuildEfiHandoff(c);
  ASSERT_THAT(h, IsOk());
  ASSERT_EQ(h->params.mmap_size, 2u * 40);
  EXPECT_EQ(Get32(h->blob, h->params.mmap_start - c.address), 7u);
  EXPECT_EQ(Get32(h->blob, h->params.mmap_start - c.address + 40), 9u);
}

TEST(EfiHandoffTest, RefusesWhatTheKernelCouldNotUse) {
  EfiHandoffConfig c = Config();
  c.ram_size = 0;
  EXPECT_THAT(BuildEfiHandoff(c), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RAM")));
  c = Config();
  c.reserved_base += 0x1000;
  EXPECT_THAT(BuildEfiHandoff(c),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("64 KiB-aligned")));
  c = Config();
  c.reserved_base = kRam + kRamSize;
  EXPECT_THAT(BuildEfiHandoff(c),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not inside RAM")));
  c = Config();
  c.rsdp_address = kRam;
  EXPECT_THAT(BuildEfiHandoff(c), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RSDP")));
  c = Config();
  c.address = kReserved + 0x4'0000 - 64;  // the blob would run past the region
  EXPECT_THAT(BuildEfiHandoff(c),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("do not fit")));
  c = Config();
  c.address += 4;
  EXPECT_THAT(BuildEfiHandoff(c),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("8-byte")));
}

std::string Prop(const std::vector<uint8_t>& fdt, const char* path, const char* name) {
  const int node = fdt_path_offset(fdt.data(), path);
  if (node < 0) return "<no node>";
  int len = 0;
  const void* p = fdt_getprop(fdt.data(), node, name, &len);
  return p == nullptr ? "<missing>" : std::string(static_cast<const char*>(p), len);
}
std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
std::string Be64(uint64_t v) { return Be32(v >> 32) + Be32(static_cast<uint32_t>(v)); }

TEST(EfiStubFdtTest, OnlyChosenWithEveryUefiProperty) {
  EfiStubFdtConfig c;
  c.cmdline = "console=ttyAMA0";
  c.initrd = FdtInitrd{0x7000'0000, 0x10'0000};
  c.efi =
      EfiHandoffParams{.system_table = 0x7ff1'0000, .mmap_start = 0x7ff1'00a0, .mmap_size = 120};
  absl::StatusOr<std::vector<uint8_t>> fdt = BuildEfiStubFdt(c);
  ASSERT_THAT(fdt, IsOk());
  ASSERT_EQ(fdt_check_header(fdt->data()), 0);
  // A stub: the root's only node is /chosen (the kernel then picks ACPI without acpi=).
  std::vector<std::string> nodes;
  int child;
  fdt_for_each_subnode(child, fdt->data(), 0) {
    nodes.push_back(fdt_get_name(fdt->data(), child, nullptr));
  }
  EXPECT_THAT(nodes, ElementsAre("chosen"));
  EXPECT_EQ(Prop(*fdt, "/chosen", "bootargs"), std::string("console=ttyAMA0 efi=noruntime\0", 30));
  EXPECT_EQ(Prop(*fdt, "/chosen", "linux,initrd-start"), Be64(0x7000'0000));
  EXPECT_EQ(Prop(*fdt, "/chosen", "linux,initrd-end"), Be64(0x7010'0000));
  EXPECT_EQ(Prop(*fdt, "/chosen", "linux,uefi-system-table"), Be64(0x7ff1'0000));
  EXPECT_EQ(Prop(*fdt, "/chosen", "linux,uefi-mmap-start"), Be64(0x7ff1'00a0));
  EXPECT_EQ(Prop(*fdt, "/chosen", "linux,uefi-mmap-size"), Be32(120));
  EXPECT_EQ(Prop(*fdt, "/chosen", "linux,uefi-mmap-desc-size"), Be32(40));
  EXPECT_EQ(Prop(*fdt, "/chosen", "linux,uefi-mmap-desc-ver"), Be32(1));
  EXPECT_EQ(Prop(*fdt, "/chosen", "linux,uefi-secure-boot"), Be32(2));
}

TEST(EfiStubFdtTest, AnEmptyCommandLineStillDisablesRuntimeServices) {
  absl::StatusOr<std::vector<uint8_t>> fdt = BuildEfiStubFdt(EfiStubFdtConfig{});
  ASSERT_THAT(fdt, IsOk());
  EXPECT_EQ(Prop(*fdt, "/chosen", "bootargs"), std::string("efi=noruntime\0", 14));
  EXPECT_EQ(Prop(*fdt, "/chosen", "linux,initrd-start"), "<missing>");
}

}  // namespace
}  // namespace vmmd::core::aarch64
