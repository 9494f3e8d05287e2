#include "hw/fw_cfg/fw_cfg.h"

#include <libfdt.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hw/fw_cfg/table_loader.h"
#include "tests/support/status_matchers.h"

namespace vmmd::hw {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::vmmd::testing::IsOk;
namespace f = fw_cfg;

constexpr uint64_t kRamBase = 0x4000'0000;
constexpr uint64_t kRamSize = 0x100'0000;  // 16 MiB

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 13);
  return v;
}

std::vector<uint8_t> Be(uint64_t value, size_t size) {
  std::vector<uint8_t> v(size);
  for (size_t i = 0; i < size; ++i) v[i] = static_cast<uint8_t>(value >> (8 * (size - 1 - i)));
  return v;
}

// Drives the device the way the guest CPU does.
class Guest {
 public:
  explicit Guest(FwCfg& dev) : dev_(dev) {}
  // edk2: MmioWrite16(sel, SwapBytes16(key)) — the bytes on the bus are the key big-endian.
  void Select(uint16_t key) { dev_.Write(f::kSelectorOffset, Be(key, 2)); }
  std::vector<uint8_t> ReadData(size_t size) {
    std::vector<uint8_t> out(size, 0xEE);
    dev_.Read(f::kDataOffset, absl::MakeSpan(out));
    return out;
  }
  uint64_t ReadDataLe(size_t size) {
    std::vector<uint8_t> b = ReadData(size);
    return core::LoadLe(b);
  }
  // edk2 on AArch64: MmioWrite64(dma, SwapBytes64(&Access)).
  void Doorbell64(uint64_t gpa) { dev_.Write(f::kDmaOffset, Be(gpa, 8)); }

 private:
  FwCfg& dev_;
};

class FwCfgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mem = core::GuestMemory::Create(kRamBase, kRamSize);
    ASSERT_THAT(mem, IsOk());
    mem_ = std::move(*mem);
  }
  void Build(FwCfgItems items) {
    dev_ = std::make_unique<FwCfg>(
        std::move(items), *mem_,
        core::DevicePlacement{.base = 0x0902'0000, .size = fw_cfg::kRegisterSize});
    guest_ = std::make_unique<Guest>(*dev_);
  }

  // One edk2 DmaReadBytes(): a READ descriptor on the stack, the doorbell, then the result.
  std::vector<uint8_t> DmaRead(uint32_t length, uint64_t dst = kRamBase + 0x10'0000) {
    const uint64_t desc = kRamBase + 0x8000;
    std::vector<uint8_t> d = Be(f::kDmaCtlRead, 4);
    for (uint8_t b : Be(length, 4)) d.push_back(b);
    for (uint8_t b : Be(dst, 8)) d.push_back(b);
    EXPECT_THAT(mem_->Write(desc, d), IsOk());
    guest_->Doorbell64(desc);
    uint8_t control[4];
    EXPECT_THAT(mem_->Read(desc, control), IsOk());
    EXPECT_THAT(control, ElementsAre(0, 0, 0, 0)) << "DMA failed";
    std::vector<uint8_t> out(length);
    EXPECT_THAT(mem_->Read(dst, absl::MakeSpan(out)), IsOk());
    return out;
  }
  uint32_t DmaReadBe32() {
    std::vector<uint8_t> b = DmaRead(4);
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  }
  uint32_t DmaReadLe32() { return static_cast<uint32_t>(core::LoadLe(DmaRead(4))); }

  // edk2 QemuFwCfgFindFile: the directory read field by field until the name matches.
  std::optional<std::pair<uint16_t, uint32_t>> FirmwareFindFile(const std::string& name) {
    guest_->Select(f::kFileDir);
    const uint32_t count = DmaReadBe32();
    for (uint32_t i = 0; i < count; ++i) {
      const uint32_t size = DmaReadBe32();
      std::vector<uint8_t> select = DmaRead(2);
      DmaRead(2);  // reserved
      std::vector<uint8_t> fname = DmaRead(56);
      if (std::strcmp(reinterpret_cast<const char*>(fname.data()), name.c_str()) == 0) {
        return std::make_pair(static_cast<uint16_t>((select[0] << 8) | select[1]), size);
      }
    }
    return std::nullopt;
  }
  // Each edk2 driver that links QemuFwCfgLib re-probes signature and id.
  void Probe() {
    guest_->Select(f::kSignature);
    EXPECT_EQ(guest_->ReadDataLe(4), 0x554d4551u);
    guest_->Select(f::kId);
    EXPECT_EQ(guest_->ReadDataLe(4), 3u);
  }

  std::unique_ptr<core::GuestMemory> mem_;
  std::unique_ptr<FwCfg> dev_;
  std::unique_ptr<Guest> guest_;
};

TEST_F(FwCfgTest, SignatureThroughTheDataRegisterWithEveryAccessSize) {
  Build(FwCfgItems());
  guest_->Select(f::kSignature);
  EXPECT_THAT(guest_->ReadData(4), ElementsAre('Q', 'E', 'M', 'U'));
  EXPECT_THAT(guest_->ReadData(4), ElementsAre(0, 0, 0, 0));  // past the end
  guest_->Select(f::kSignature);
  EXPECT_THAT(guest_->ReadData(1), ElementsAre('Q'));
  EXPECT_THAT(guest_->ReadData(2), ElementsAre('E', 'M'));
  EXPECT_THAT(guest_->ReadData(1), ElementsAre('U'));
  EXPECT_THAT(guest_->ReadData(1), ElementsAre(0));
  guest_->Select(f::kSignature);
  EXPECT_THAT(guest_->ReadData(8), ElementsAre('Q', 'E', 'M', 'U', 0, 0, 0, 0));
  guest_->Select(f::kSignature);
  EXPECT_THAT(guest_->ReadData(2), ElementsAre('Q', 'E'));
  EXPECT_THAT(guest_->ReadData(8), ElementsAre('M', 'U', 0, 0, 0, 0, 0, 0));
  // The traced 4-byte read: the CPU sees 0x554d4551.
  guest_->Select(f::kSignature);
  EXPECT_EQ(guest_->ReadDataLe(4), 0x554d4551u);
}

TEST_F(FwCfgTest, IdAdvertisesTraditionalAndDma) {
  Build(FwCfgItems());
  guest_->Select(f::kId);
  EXPECT_THAT(guest_->ReadData(4), ElementsAre(3, 0, 0, 0));
  guest_->Select(f::kId);
  EXPECT_THAT(guest_->ReadData(2), ElementsAre(3, 0));
  EXPECT_THAT(guest_->ReadData(2), ElementsAre(0, 0));
}

TEST_F(FwCfgTest, SelectorIsBigEndianSixteenBit) {
  Build(FwCfgItems());
  // Little-endian bytes {0x01, 0x00} mean key 0x0100, which does not exist: zeros.
  dev_->Write(f::kSelectorOffset, std::vector<uint8_t>{0x01, 0x00});
  EXPECT_THAT(guest_->ReadData(4), ElementsAre(0, 0, 0, 0));
  dev_->Write(f::kSelectorOffset, std::vector<uint8_t>{0x00, 0x01});
  EXPECT_THAT(guest_->ReadData(4), ElementsAre(3, 0, 0, 0));
  // Selecting again restarts the item.
  dev_->Write(f::kSelectorOffset, std::vector<uint8_t>{0x00, 0x00});
  EXPECT_THAT(guest_->ReadData(2), ElementsAre('Q', 'E'));
  dev_->Write(f::kSelectorOffset, std::vector<uint8_t>{0x00, 0x00});
  EXPECT_THAT(guest_->ReadData(2), ElementsAre('Q', 'E'));
  // Other sizes at the selector are ignored (QEMU accepts only 2-byte writes).
  dev_->Write(f::kSelectorOffset, std::vector<uint8_t>{0x00, 0x01, 0x00, 0x00});
  dev_->Write(f::kSelectorOffset, std::vector<uint8_t>{0x01});
  EXPECT_THAT(guest_->ReadData(2), ElementsAre('M', 'U'));
  EXPECT_EQ(dev_->GetStats().ignored_accesses, 2u);
  // The write-channel bit (0x4000) selects the same item.
  guest_->Select(f::kId | f::kWriteChannel);
  EXPECT_THAT(guest_->ReadData(1), ElementsAre(3));
}

TEST_F(FwCfgTest, DirectoryIsByteExactAndSortedByName) {
  FwCfgItems items;
  ASSERT_THAT(items.AddFile("etc/table-loader", Pattern(256, 1)), IsOk());
  ASSERT_THAT(items.AddFile("etc/acpi/tables", Pattern(0x1234, 2)), IsOk());
  ASSERT_THAT(items.AddFile("etc/acpi/rsdp", Pattern(36, 3)), IsOk());
  Build(std::move(items));
  guest_->Select(f::kFileDir);
  std::vector<uint8_t> dir = guest_->ReadData(8);
  for (int i = 0; i < 24; ++i) {
    for (uint8_t b : guest_->ReadData(8)) dir.push_back(b);
  }
  std::vector<uint8_t> expected = {0, 0, 0, 3};
  auto entry = [&](uint32_t size, uint16_t key, const std::string& name) {
    for (uint8_t b : Be(size, 4)) expected.push_back(b);
    for (uint8_t b : Be(key, 2)) expected.push_back(b);
    expected.push_back(0);
    expected.push_back(0);
    std::vector<uint8_t> n(56, 0);
    std::memcpy(n.data(), name.data(), name.size());
    expected.insert(expected.end(), n.begin(), n.end());
  };
  entry(36, 0x20, "etc/acpi/rsdp");
  entry(0x1234, 0x21, "etc/acpi/tables");
  entry(256, 0x22, "etc/table-loader");
  expected.resize(200, 0);  // 4 + 3 * 64 = 196, then zeros past the end
  EXPECT_EQ(dir, expected);
}

TEST_F(FwCfgTest, CmdlineIsNulTerminatedAndSizeCountsTheNul) {
  FwCfgItems items;
  ASSERT_THAT(items.SetCmdline("console=ttyAMA0"), IsOk());
  Build(std::move(items));
  guest_->Select(f::kCmdlineSize);
  EXPECT_EQ(DmaReadLe32(), 16u);
  guest_->Select(f::kCmdlineData);
  std::vector<uint8_t> expected = {'c', 'o', 'n', 's', 'o', 'l', 'e', '=',
                                   't', 't', 'y', 'A', 'M', 'A', '0', 0};
  EXPECT_EQ(DmaRead(16), expected);
}

TEST_F(FwCfgTest, LegacyKeysExistEvenWithoutAKernel) {
  Build(FwCfgItems());
  for (uint16_t key : {f::kKernelSize, f::kInitrdSize, f::kCmdlineSize, f::kSetupSize}) {
    guest_->Select(key);
    EXPECT_EQ(DmaReadLe32(), 0u) << key;
  }
  guest_->Select(f::kBootMenu);
  EXPECT_THAT(DmaRead(2), ElementsAre(0, 0));
  EXPECT_EQ(dev_->GetStats().dma_errors, 0u);
}

TEST_F(FwCfgTest, DmaAddressRegisterReadsTheSignatureAndSplitWritesTrigger) {
  FwCfgItems items;
  ASSERT_THAT(items.AddFile("opt/test", Pattern(8, 7)), IsOk());
  Build(std::move(items));
  std::vector<uint8_t> sig(8);
  dev_->Read(f::kDmaOffset, absl::MakeSpan(sig));
  EXPECT_THAT(sig, ElementsAre('Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G'));
  std::vector<uint8_t> low(4);
  dev_->Read(f::kDmaOffset + 4, absl::MakeSpan(low));
  EXPECT_THAT(low, ElementsAre(' ', 'C', 'F', 'G'));

  const uint64_t desc = kRamBase + 0x2'0000;
  const uint64_t dst = kRamBase + 0x3'0000;
  std::vector<uint8_t> d = Be((uint32_t{0x20} << 16) | f::kDmaCtlSelect | f::kDmaCtlRead, 4);
  for (uint8_t b : Be(8, 4)) d.push_back(b);
  for (uint8_t b : Be(dst, 8)) d.push_back(b);
  ASSERT_THAT(mem_->Write(desc, d), IsOk());
  // High half alone does nothing; the low half triggers.
  dev_->Write(f::kDmaOffset, Be(desc >> 32, 4));
  EXPECT_EQ(dev_->GetStats().dma_requests, 0u);
  dev_->Write(f::kDmaOffset + 4, Be(desc & 0xFFFF'FFFF, 4));
  EXPECT_EQ(dev_->GetStats().dma_requests, 1u);
  std::vector<uint8_t> got(8);
  ASSERT_THAT(mem_->Read(dst, absl::MakeSpan(got)), IsOk());
  EXPECT_EQ(got, Pattern(8, 7));
  // The register reset to 0 after the transfer: a lone low-half write now uses high = 0.
  ASSERT_THAT(mem_->Write(desc, d), IsOk());
  dev_->Write(f::kDmaOffset + 4, Be(desc, 4));
  EXPECT_EQ(dev_->GetStats().dma_requests, 2u);
  EXPECT_EQ(dev_->GetStats().dma_errors, 0u);
  // A high half that puts the descriptor outside RAM makes the transfer fail.
  dev_->Write(f::kDmaOffset, Be(1, 4));
  dev_->Write(f::kDmaOffset + 4, Be(desc, 4));
  EXPECT_EQ(dev_->GetStats().dma_errors, 1u);
}

TEST_F(FwCfgTest, DataRegisterWritesAndOddOffsetsAreIgnored) {
  Build(FwCfgItems());
  guest_->Select(f::kSignature);
  dev_->Write(f::kDataOffset, std::vector<uint8_t>{1, 2, 3, 4});
  std::vector<uint8_t> odd(1, 0xEE);
  dev_->Read(3, absl::MakeSpan(odd));
  EXPECT_THAT(odd, ElementsAre(0));
  std::vector<uint8_t> sel(2, 0xEE);
  dev_->Read(f::kSelectorOffset, absl::MakeSpan(sel));
  EXPECT_THAT(sel, ElementsAre(0, 0));
  EXPECT_THAT(guest_->ReadData(4), ElementsAre('Q', 'E', 'M', 'U'));
  EXPECT_EQ(dev_->GetStats().ignored_accesses, 3u);
}

TEST_F(FwCfgTest, ResetSelectsTheSignature) {
  Build(FwCfgItems());
  guest_->Select(f::kId);
  dev_->Write(f::kDmaOffset, Be(0x1234, 4));
  dev_->Reset();
  EXPECT_THAT(guest_->ReadData(4), ElementsAre('Q', 'E', 'M', 'U'));
}

TEST_F(FwCfgTest, DescribesItsDeviceTreeNode) {
  Build(FwCfgItems());
  core::aarch64::FdtWriter fdt;
  ASSERT_THAT(fdt.PropU32("#address-cells", 2), IsOk());
  ASSERT_THAT(fdt.PropU32("#size-cells", 2), IsOk());
  ASSERT_THAT(dev_->DescribeFdt(fdt), IsOk());
  auto blob = fdt.Finish();
  ASSERT_THAT(blob, IsOk());
  const void* dt = blob->data();
  const int node = fdt_path_offset(dt, "/fw-cfg@9020000");
  ASSERT_GE(node, 0);
  int len = 0;
  const char* compat = static_cast<const char*>(fdt_getprop(dt, node, "compatible", &len));
  ASSERT_EQ(len, static_cast<int>(sizeof("qemu,fw-cfg-mmio")));
  EXPECT_STREQ(compat, "qemu,fw-cfg-mmio");
  const auto* reg = static_cast<const uint8_t*>(fdt_getprop(dt, node, "reg", &len));
  ASSERT_EQ(len, 16);
  EXPECT_THAT(std::vector<uint8_t>(reg, reg + 16),
              ElementsAre(0, 0, 0, 0, 0x09, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x18));
  ASSERT_NE(fdt_getprop(dt, node, "dma-coherent", &len), nullptr);
  EXPECT_EQ(len, 0);
}

// The measured firmware transcript (reference/firmware-trace/traces/fwcfg-bios-only.txt),
// replayed through the registers: probes, directory walks (including absent names), the legacy
// direct-boot keys with the kernel in 1 MiB chunks, the ACPI files, boot_menu.
TEST_F(FwCfgTest, ReplaysTheMeasuredFirmwareTranscript) {
  const std::vector<uint8_t> kernel = Pattern(2 * 0x10'0000 + 958'976, 11);
  const std::vector<uint8_t> initrd = Pattern(98'765, 12);
  const std::vector<uint8_t> tables = Pattern(5000, 13);
  const std::vector<uint8_t> rsdp = Pattern(36, 14);
  const std::vector<uint8_t> anchor = Pattern(24, 15);
  const std::vector<uint8_t> smbios = Pattern(302, 16);
  TableLoader loader;
  ASSERT_THAT(loader.Allocate("etc/acpi/rsdp", 16, table_loader::Zone::kFseg), IsOk());
  ASSERT_THAT(loader.Allocate("etc/acpi/tables", 64, table_loader::Zone::kHigh), IsOk());
  const std::vector<uint8_t> script = loader.Serialize();

  FwCfgItems items;
  ASSERT_THAT(items.SetKernel(MakeBytesBlob(kernel)), IsOk());
  ASSERT_THAT(items.SetInitrd(MakeBytesBlob(initrd)), IsOk());
  ASSERT_THAT(items.SetCmdline("console=ttyAMA0"), IsOk());
  ASSERT_THAT(items.AddFile("etc/smbios/smbios-anchor", anchor), IsOk());
  ASSERT_THAT(items.AddFile("etc/smbios/smbios-tables", smbios), IsOk());
  ASSERT_THAT(items.AddFile("etc/table-loader", script), IsOk());
  ASSERT_THAT(items.AddFile("etc/acpi/tables", tables), IsOk());
  ASSERT_THAT(items.AddFile("etc/acpi/rsdp", rsdp), IsOk());
  Build(std::move(items));

  Probe();
  auto found_anchor = FirmwareFindFile("etc/smbios/smbios-anchor");
  ASSERT_TRUE(found_anchor.has_value());
  auto found_smbios = FirmwareFindFile("etc/smbios/smbios-tables");
  ASSERT_TRUE(found_smbios.has_value());
  guest_->Select(found_anchor->first);
  EXPECT_EQ(DmaRead(found_anchor->second), anchor);
  Probe();
  EXPECT_FALSE(FirmwareFindFile("etc/ramfb").has_value());
  Probe();
  guest_->Select(found_smbios->first);
  EXPECT_EQ(DmaRead(found_smbios->second), smbios);
  Probe();
  EXPECT_FALSE(FirmwareFindFile("etc/hardware-info").has_value());
  EXPECT_FALSE(FirmwareFindFile("etc/extra-pci-roots").has_value());
  EXPECT_FALSE(FirmwareFindFile("etc/edk2/https/cacerts").has_value());
  EXPECT_FALSE(FirmwareFindFile("etc/edk2/https/ciphers").has_value());
  Probe();
  ASSERT_TRUE(FirmwareFindFile("etc/table-loader").has_value());

  // Step 7: the kernel loader.
  Probe();
  guest_->Select(f::kSetupSize);
  EXPECT_EQ(DmaReadLe32(), 0u);
  guest_->Select(f::kKernelSize);
  const uint32_t kernel_size = DmaReadLe32();
  ASSERT_EQ(kernel_size, kernel.size());
  guest_->Select(f::kSetupData);  // selected, never read
  guest_->Select(f::kKernelData);
  const uint64_t kernel_dst = kRamBase + 0x20'0000;
  for (uint32_t done = 0; done < kernel_size;) {
    const uint32_t chunk = std::min<uint32_t>(0x10'0000, kernel_size - done);
    DmaRead(chunk, kernel_dst + done);
    done += chunk;
  }
  std::vector<uint8_t> got(kernel_size);
  ASSERT_THAT(mem_->Read(kernel_dst, absl::MakeSpan(got)), IsOk());
  EXPECT_EQ(got, kernel);
  guest_->Select(f::kInitrdSize);
  const uint32_t initrd_size = DmaReadLe32();
  ASSERT_EQ(initrd_size, initrd.size());
  guest_->Select(f::kInitrdData);
  EXPECT_EQ(DmaRead(initrd_size), initrd);
  guest_->Select(f::kCmdlineSize);
  const uint32_t cmdline_size = DmaReadLe32();
  guest_->Select(f::kCmdlineData);
  const std::vector<uint8_t> cmdline = DmaRead(cmdline_size);
  EXPECT_EQ(std::string(cmdline.begin(), cmdline.end()), std::string("console=ttyAMA0\0", 16));

  Probe();
  EXPECT_FALSE(FirmwareFindFile("opt/org.tianocore/IPv4PXESupport").has_value());
  EXPECT_FALSE(FirmwareFindFile("opt/org.tianocore/IPv6PXESupport").has_value());

  // Step 9: the ACPI loader and its blobs.
  Probe();
  auto found_loader = FirmwareFindFile("etc/table-loader");
  ASSERT_TRUE(found_loader.has_value());
  guest_->Select(found_loader->first);
  EXPECT_EQ(DmaRead(found_loader->second), script);
  auto found_rsdp = FirmwareFindFile("etc/acpi/rsdp");
  ASSERT_TRUE(found_rsdp.has_value());
  guest_->Select(found_rsdp->first);
  EXPECT_EQ(DmaRead(found_rsdp->second), rsdp);
  auto found_tables = FirmwareFindFile("etc/acpi/tables");
  ASSERT_TRUE(found_tables.has_value());
  guest_->Select(found_tables->first);
  EXPECT_EQ(DmaRead(found_tables->second), tables);

  // Step 10.
  guest_->Select(f::kBootMenu);
  EXPECT_THAT(DmaRead(2), ElementsAre(0, 0));

  const FwCfg::Stats stats = dev_->GetStats();
  EXPECT_EQ(stats.dma_errors, 0u);
  EXPECT_EQ(stats.ignored_accesses, 0u);
  EXPECT_GT(stats.dma_requests, 100u);
}

TEST(FwCfgItemsTest, FileNamesAreValidated) {
  FwCfgItems items;
  EXPECT_THAT(items.AddFile("", {1}), vmmd::testing::StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(items.AddFile(std::string(56, 'a'), {1}),
              vmmd::testing::StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(items.AddFile(std::string("a\0b", 3), {1}),
              vmmd::testing::StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(items.AddFile(std::string(55, 'a'), {1}), IsOk());
  EXPECT_THAT(items.AddFile(std::string(55, 'a'), {2}),
              vmmd::testing::StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(items.SetCmdline(std::string("a\0b", 3)),
              vmmd::testing::StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(items.SetKernel(nullptr),
              vmmd::testing::StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(items.file_count(), 1u);
}

TEST(FwCfgItemsTest, KeysFollowNameOrder) {
  FwCfgItems items;
  ASSERT_THAT(items.AddFile("b", {2}), IsOk());
  EXPECT_EQ(items.FindFile("b"), f::kFileFirst);
  ASSERT_THAT(items.AddFile("a", {1}), IsOk());
  EXPECT_EQ(items.FindFile("a"), f::kFileFirst);
  EXPECT_EQ(items.FindFile("b"), f::kFileFirst + 1);
  EXPECT_EQ(items.FindFile("c"), std::nullopt);
  EXPECT_EQ(items.Find(f::kFileFirst + 2), nullptr);
  EXPECT_EQ(items.Find(f::kFileFirst + 1)->size(), 1u);
}

}  // namespace
}  // namespace vmmd::hw
