#include "hw/fw_cfg/fw_cfg_dma.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::hw {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;
namespace f = fw_cfg;

constexpr uint64_t kRamBase = 0x4000'0000;
constexpr uint64_t kRamSize = 0x10'0000;  // 1 MiB
constexpr uint64_t kDesc = kRamBase + 0x1000;
constexpr uint64_t kBuf = kRamBase + 0x2000;

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

class FwCfgDmaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mem = core::GuestMemory::Create(kRamBase, kRamSize);
    ASSERT_THAT(mem, IsOk());
    mem_ = std::move(*mem);
    // Fill RAM with a recognisable pattern so any stray write shows up.
    auto span = mem_->GetSpan(kRamBase, kRamSize);
    ASSERT_THAT(span, IsOk());
    for (size_t i = 0; i < span->size(); ++i) (*span)[i] = static_cast<uint8_t>(0xA5 ^ (i >> 3));
    ASSERT_THAT(items_.AddFile("etc/acpi/tables", Pattern(300, 1)), IsOk());
    ASSERT_THAT(items_.AddFile("etc/acpi/rsdp", Pattern(36, 9)), IsOk());
  }

  // Writes a big-endian descriptor at `gpa`.
  void PutDescriptor(uint64_t gpa, uint32_t control, uint32_t length, uint64_t address) {
    uint8_t d[16];
    for (int i = 0; i < 4; ++i) d[i] = static_cast<uint8_t>(control >> (24 - 8 * i));
    for (int i = 0; i < 4; ++i) d[4 + i] = static_cast<uint8_t>(length >> (24 - 8 * i));
    for (int i = 0; i < 8; ++i) d[8 + i] = static_cast<uint8_t>(address >> (56 - 8 * i));
    ASSERT_THAT(mem_->Write(gpa, d), IsOk());
  }
  uint32_t ControlAt(uint64_t gpa) {
    uint8_t c[4];
    EXPECT_THAT(mem_->Read(gpa, c), IsOk());
    return (uint32_t{c[0]} << 24) | (uint32_t{c[1]} << 16) | (uint32_t{c[2]} << 8) | c[3];
  }
  std::vector<uint8_t> Ram(uint64_t gpa, size_t n) {
    std::vector<uint8_t> v(n);
    EXPECT_THAT(mem_->Read(gpa, absl::MakeSpan(v)), IsOk());
    return v;
  }
  std::vector<uint8_t> Snapshot() { return Ram(kRamBase, kRamSize); }
  // RAM equals `before` everywhere except the 4 control bytes at `control_gpa` (if in RAM).
  void ExpectOnlyControlChanged(const std::vector<uint8_t>& before, uint64_t control_gpa) {
    std::vector<uint8_t> after = Snapshot();
    for (size_t i = 0; i < kRamSize; ++i) {
      const uint64_t gpa = kRamBase + i;
      if (gpa >= control_gpa && gpa < control_gpa + 4) continue;
      ASSERT_EQ(after[i], before[i]) << "RAM changed at 0x" << std::hex << gpa;
    }
  }
  uint16_t Key(const char* name) { return *items_.FindFile(name); }

  std::unique_ptr<core::GuestMemory> mem_;
  FwCfgItems items_;
  FwCfgCursor cursor_;
};

TEST_F(FwCfgDmaTest, ReadsAFileIntoRamExactly) {
  cursor_ = {Key("etc/acpi/tables"), 0};
  PutDescriptor(kDesc, f::kDmaCtlRead, 300, kBuf);
  const std::vector<uint8_t> after_buf = Ram(kBuf + 300, 16);
  FwCfgDmaResult r = ProcessFwCfgDma(*mem_, kDesc, items_, cursor_);
  EXPECT_THAT(r.status, IsOk());
  EXPECT_EQ(r.control, 0u);
  EXPECT_TRUE(r.control_written);
  EXPECT_EQ(r.bytes, 300u);
  EXPECT_EQ(ControlAt(kDesc), 0u);
  EXPECT_EQ(Ram(kBuf, 300), Pattern(300, 1));
  EXPECT_EQ(Ram(kBuf + 300, 16), after_buf);  // not one byte further
  EXPECT_EQ(cursor_.offset, 300u);
}

TEST_F(FwCfgDmaTest, ReadsContinueAtTheOffsetAndZeroFillPastTheEnd) {
  cursor_ = {Key("etc/acpi/rsdp"), 0};
  PutDescriptor(kDesc, f::kDmaCtlRead, 20, kBuf);
  ASSERT_EQ(ProcessFwCfgDma(*mem_, kDesc, items_, cursor_).control, 0u);
  PutDescriptor(kDesc, f::kDmaCtlRead, 40, kBuf + 20);  // 16 bytes left, 24 past the end
  FwCfgDmaResult r = ProcessFwCfgDma(*mem_, kDesc, items_, cursor_);
  EXPECT_EQ(r.control, 0u);
  EXPECT_EQ(r.bytes, 16u);
  std::vector<uint8_t> expected = Pattern(36, 9);
  expected.resize(60, 0);
  EXPECT_EQ(Ram(kBuf, 60), expected);
  EXPECT_EQ(cursor_.offset, 36u);
}

TEST_F(FwCfgDmaTest, SkipAdvancesWithoutTouchingRam) {
  cursor_ = {Key("etc/acpi/tables"), 0};
  // The address is garbage: a skip never uses it.
  PutDescriptor(kDesc, f::kDmaCtlSkip, 100, 0xFFFF'FFFF'FFFF'FFF0ULL);
  std::vector<uint8_t> with_desc = Snapshot();
  FwCfgDmaResult r = ProcessFwCfgDma(*mem_, kDesc, items_, cursor_);
  EXPECT_EQ(r.control, 0u);
  EXPECT_EQ(cursor_.offset, 100u);
  ExpectOnlyControlChanged(with_desc, kDesc);
  // A skip past the end stops at the end.
  PutDescriptor(kDesc, f::kDmaCtlSkip, 1000, 0);
  EXPECT_EQ(ProcessFwCfgDma(*mem_, kDesc, items_, cursor_).control, 0u);
  EXPECT_EQ(cursor_.offset, 300u);
}

TEST_F(FwCfgDmaTest, SkipThenReadGivesTheTail) {
  cursor_ = {Key("etc/acpi/tables"), 0};
  PutDescriptor(kDesc, f::kDmaCtlSkip, 250, 0);
  ASSERT_EQ(ProcessFwCfgDma(*mem_, kDesc, items_, cursor_).control, 0u);
  PutDescriptor(kDesc, f::kDmaCtlRead, 50, kBuf);
  ASSERT_EQ(ProcessFwCfgDma(*mem_, kDesc, items_, cursor_).control, 0u);
  const std::vector<uint8_t> all = Pattern(300, 1);
  EXPECT_EQ(Ram(kBuf, 50), std::vector<uint8_t>(all.begin() + 250, all.end()));
}

TEST_F(FwCfgDmaTest, SelectInsideTheDescriptorResetsTheOffset) {
  cursor_ = {f::kSignature, 3};
  const uint16_t key = Key("etc/acpi/rsdp");
  PutDescriptor(kDesc, (uint32_t{key} << 16) | f::kDmaCtlSelect | f::kDmaCtlRead, 36, kBuf);
  FwCfgDmaResult r = ProcessFwCfgDma(*mem_, kDesc, items_, cursor_);
  EXPECT_EQ(r.control, 0u);
  EXPECT_EQ(cursor_.key, key);
  EXPECT_EQ(Ram(kBuf, 36), Pattern(36, 9));
}

TEST_F(FwCfgDmaTest, SelectOnlyIsASuccessfulNoOp) {
  PutDescriptor(kDesc, (uint32_t{f::kId} << 16) | f::kDmaCtlSelect, 4, kBuf);
  std::vector<uint8_t> with_desc = Snapshot();
  EXPECT_EQ(ProcessFwCfgDma(*mem_, kDesc, items_, cursor_).control, 0u);
  EXPECT_EQ(cursor_.key, f::kId);
  ExpectOnlyControlChanged(with_desc, kDesc);
}

TEST_F(FwCfgDmaTest, ReadOfLegacyIdKeyGivesLittleEndianFeatures) {
  PutDescriptor(kDesc, (uint32_t{f::kId} << 16) | f::kDmaCtlSelect | f::kDmaCtlRead, 4, kBuf);
  ASSERT_EQ(ProcessFwCfgDma(*mem_, kDesc, items_, cursor_).control, 0u);
  EXPECT_THAT(Ram(kBuf, 4), ElementsAre(3, 0, 0, 0));
}

TEST_F(FwCfgDmaTest, WriteToAReadOnlyItemIsAnErrorAndLeavesRamAlone) {
  cursor_ = {Key("etc/acpi/tables"), 0};
  PutDescriptor(kDesc, f::kDmaCtlWrite, 16, kBuf);
  const std::vector<uint8_t> before = Snapshot();
  FwCfgDmaResult r = ProcessFwCfgDma(*mem_, kDesc, items_, cursor_);
  EXPECT_EQ(r.control, f::kDmaCtlError);
  EXPECT_THAT(r.status, StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(ControlAt(kDesc), f::kDmaCtlError);
  ExpectOnlyControlChanged(before, kDesc);
  EXPECT_EQ(cursor_.offset, 16u);  // QEMU advances over the rejected bytes
  // The item itself is unchanged.
  PutDescriptor(kDesc, (uint32_t{cursor_.key} << 16) | f::kDmaCtlSelect | f::kDmaCtlRead, 300,
                kBuf);
  ASSERT_EQ(ProcessFwCfgDma(*mem_, kDesc, items_, cursor_).control, 0u);
  EXPECT_EQ(Ram(kBuf, 300), Pattern(300, 1));
}

TEST_F(FwCfgDmaTest, ReadWinsOverWriteAndSkip) {
  cursor_ = {Key("etc/acpi/rsdp"), 0};
  PutDescriptor(kDesc, f::kDmaCtlRead | f::kDmaCtlWrite | f::kDmaCtlSkip, 36, kBuf);
  EXPECT_EQ(ProcessFwCfgDma(*mem_, kDesc, items_, cursor_).control, 0u);
  EXPECT_EQ(Ram(kBuf, 36), Pattern(36, 9));
}

TEST_F(FwCfgDmaTest, DescriptorBeyondRamTouchesNothing) {
  const std::vector<uint8_t> before = Snapshot();
  for (uint64_t gpa : {kRamBase + kRamSize, kRamBase - 16, uint64_t{0}, ~uint64_t{0} - 3,
                       kRamBase + kRamSize + 0x1000}) {
    FwCfgDmaResult r = ProcessFwCfgDma(*mem_, gpa, items_, cursor_);
    EXPECT_EQ(r.control, f::kDmaCtlError) << gpa;
    EXPECT_FALSE(r.control_written) << gpa;
    EXPECT_THAT(r.status, StatusIs(absl::StatusCode::kOutOfRange));
  }
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(FwCfgDmaTest, DescriptorStraddlingTheEndOfRamGetsOnlyTheErrorBit) {
  // Control and length in RAM, address beyond: the control word is still writable.
  const uint64_t desc = kRamBase + kRamSize - 8;
  uint8_t partial[8] = {0, 0, 0, 2, 0, 0, 0, 16};  // READ, 16 bytes
  ASSERT_THAT(mem_->Write(desc, partial), IsOk());
  const std::vector<uint8_t> before = Snapshot();
  FwCfgDmaResult r = ProcessFwCfgDma(*mem_, desc, items_, cursor_);
  EXPECT_EQ(r.control, f::kDmaCtlError);
  EXPECT_TRUE(r.control_written);
  EXPECT_EQ(ControlAt(desc), f::kDmaCtlError);
  ExpectOnlyControlChanged(before, desc);
}

TEST_F(FwCfgDmaTest, EveryBadTransferRangeSetsTheErrorBitAndTouchesNothingElse) {
  struct Case {
    const char* what;
    uint32_t length;
    uint64_t address;
  };
  const Case cases[] = {
      {"address + length overflows", 0x100, ~uint64_t{0} - 0x10},
      {"address below RAM", 0x10, kRamBase - 0x8},
      {"length reaches past the end of RAM", 0x20, kRamBase + kRamSize - 0x10},
      {"address just past RAM", 1, kRamBase + kRamSize},
      {"address zero", 4, 0},
      {"huge length", 0xFFFF'FFFF, kRamBase},
  };
  for (const Case& c : cases) {
    for (uint32_t op : {f::kDmaCtlRead, f::kDmaCtlWrite}) {
      cursor_ = {Key("etc/acpi/tables"), 0};
      PutDescriptor(kDesc, op, c.length, c.address);
      const std::vector<uint8_t> before = Snapshot();
      FwCfgDmaResult r = ProcessFwCfgDma(*mem_, kDesc, items_, cursor_);
      EXPECT_EQ(r.control, f::kDmaCtlError) << c.what;
      EXPECT_EQ(ControlAt(kDesc), f::kDmaCtlError) << c.what;
      EXPECT_EQ(cursor_.offset, 0u) << c.what;
      ExpectOnlyControlChanged(before, kDesc);
    }
  }
}

TEST_F(FwCfgDmaTest, UnknownKeyIsAnError) {
  for (uint16_t key : {uint16_t{0x02}, uint16_t{0x1234}, uint16_t{0x8000},
                       static_cast<uint16_t>(f::kFileFirst + 2)}) {
    PutDescriptor(kDesc, (uint32_t{key} << 16) | f::kDmaCtlSelect | f::kDmaCtlRead, 8, kBuf);
    const std::vector<uint8_t> before = Snapshot();
    FwCfgDmaResult r = ProcessFwCfgDma(*mem_, kDesc, items_, cursor_);
    EXPECT_EQ(r.control, f::kDmaCtlError) << key;
    EXPECT_THAT(r.status, StatusIs(absl::StatusCode::kNotFound));
    ExpectOnlyControlChanged(before, kDesc);
  }
}

TEST_F(FwCfgDmaTest, WriteChannelBitSelectsTheSameItem) {
  PutDescriptor(
      kDesc, (uint32_t{f::kSignature | f::kWriteChannel} << 16) | f::kDmaCtlSelect | f::kDmaCtlRead,
      4, kBuf);
  ASSERT_EQ(ProcessFwCfgDma(*mem_, kDesc, items_, cursor_).control, 0u);
  EXPECT_THAT(Ram(kBuf, 4), ElementsAre('Q', 'E', 'M', 'U'));
}

TEST_F(FwCfgDmaTest, ZeroLengthAndNoOperationSucceedWithoutTouchingRam) {
  cursor_ = {Key("etc/acpi/tables"), 5};
  PutDescriptor(kDesc, f::kDmaCtlRead, 0, 0);  // address invalid, but nothing to move
  std::vector<uint8_t> before = Snapshot();
  EXPECT_EQ(ProcessFwCfgDma(*mem_, kDesc, items_, cursor_).control, 0u);
  ExpectOnlyControlChanged(before, kDesc);
  PutDescriptor(kDesc, 0, 100, 0);
  before = Snapshot();
  EXPECT_EQ(ProcessFwCfgDma(*mem_, kDesc, items_, cursor_).control, 0u);
  ExpectOnlyControlChanged(before, kDesc);
  EXPECT_EQ(cursor_.offset, 5u);
}

TEST_F(FwCfgDmaTest, ErrorBitInTheRequestIsIgnored) {
  cursor_ = {Key("etc/acpi/rsdp"), 0};
  PutDescriptor(kDesc, f::kDmaCtlError | f::kDmaCtlRead, 36, kBuf);
  EXPECT_EQ(ProcessFwCfgDma(*mem_, kDesc, items_, cursor_).control, 0u);
  EXPECT_EQ(Ram(kBuf, 36), Pattern(36, 9));
}

TEST_F(FwCfgDmaTest, DestinationMayOverlapTheDescriptor) {
  // The data lands on the descriptor, then the control word is written back over it.
  cursor_ = {Key("etc/acpi/rsdp"), 0};
  PutDescriptor(kDesc, f::kDmaCtlRead, 36, kDesc);
  FwCfgDmaResult r = ProcessFwCfgDma(*mem_, kDesc, items_, cursor_);
  EXPECT_EQ(r.control, 0u);
  std::vector<uint8_t> expected = Pattern(36, 9);
  expected[0] = expected[1] = expected[2] = expected[3] = 0;
  EXPECT_EQ(Ram(kDesc, 36), expected);
}

class TempFile {
 public:
  explicit TempFile(const std::vector<uint8_t>& bytes) {
    char tmpl[] = "/tmp/fw_cfg_dma_testXXXXXX";
    const int fd = mkstemp(tmpl);
    path_ = tmpl;
    EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST_F(FwCfgDmaTest, FileBackedKernelIsReadInChunksLikeTheFirmware) {
  const std::vector<uint8_t> kernel = Pattern(200'000, 3);
  TempFile file(kernel);
  auto blob = OpenFileBlob(file.path());
  ASSERT_THAT(blob, IsOk());
  ASSERT_THAT(items_.SetKernel(*blob), IsOk());
  // kernel_size, then kernel_data in 64 KiB chunks (edk2 uses 1 MiB).
  PutDescriptor(kDesc, (uint32_t{f::kKernelSize} << 16) | f::kDmaCtlSelect | f::kDmaCtlRead, 4,
                kBuf);
  ASSERT_EQ(ProcessFwCfgDma(*mem_, kDesc, items_, cursor_).control, 0u);
  EXPECT_THAT(Ram(kBuf, 4), ElementsAre(0x40, 0x0D, 0x03, 0x00));  // 200000 LE
  cursor_ = {f::kKernelData, 0};
  const uint64_t dst = kRamBase + 0x4'0000;
  for (uint64_t done = 0; done < kernel.size();) {
    const uint32_t chunk =
        static_cast<uint32_t>(std::min<uint64_t>(0x1'0000, kernel.size() - done));
    PutDescriptor(kDesc, f::kDmaCtlRead, chunk, dst + done);
    ASSERT_EQ(ProcessFwCfgDma(*mem_, kDesc, items_, cursor_).control, 0u);
    done += chunk;
  }
  EXPECT_EQ(Ram(dst, kernel.size()), kernel);
}

TEST_F(FwCfgDmaTest, FileThatShrankIsAnError) {
  std::vector<uint8_t> data = Pattern(4096, 5);
  TempFile file(data);
  auto blob = OpenFileBlob(file.path());
  ASSERT_THAT(blob, IsOk());
  ASSERT_THAT(items_.SetInitrd(*blob), IsOk());
  ASSERT_EQ(truncate(file.path().c_str(), 100), 0);
  cursor_ = {f::kInitrdData, 0};
  PutDescriptor(kDesc, f::kDmaCtlRead, 4096, kBuf);
  FwCfgDmaResult r = ProcessFwCfgDma(*mem_, kDesc, items_, cursor_);
  EXPECT_EQ(r.control, f::kDmaCtlError);
  EXPECT_THAT(r.status, StatusIs(absl::StatusCode::kDataLoss));
}

// Property test (a deterministic fuzz): random descriptors aimed at the edges of a small RAM.
// Whatever the request, guest memory changes only inside [address, address + length) of a
// successful read and in the control word; a failed request changes only the control word.
TEST(FwCfgDmaPropertyTest, RandomDescriptorsNeverTouchMemoryOutsideTheirRange) {
  constexpr uint64_t kBase = 0x8000'0000;
  constexpr uint64_t kSize = 0x4000;
  auto created = core::GuestMemory::Create(kBase, kSize);
  ASSERT_THAT(created, IsOk());
  const core::GuestMemory* mem = created->get();
  FwCfgItems items;
  ASSERT_THAT(items.AddFile("etc/a", Pattern(700, 3)), IsOk());
  ASSERT_THAT(items.AddFile("etc/b", Pattern(5, 4)), IsOk());
  std::mt19937_64 rng(20261121);
  auto near_edge = [&](uint64_t span) -> uint64_t {
    switch (rng() % 6) {
      case 0:
        return kBase + rng() % kSize;
      case 1:
        return kBase + kSize - rng() % 64;
      case 2:
        return kBase - rng() % 64;
      case 3:
        return ~uint64_t{0} - rng() % 64;
      case 4:
        return rng();
      default:
        return kBase + kSize - span;
    }
  };
  FwCfgCursor cursor;
  uint64_t successes = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    auto all = mem->GetSpan(kBase, kSize);
    ASSERT_THAT(all, IsOk());
    for (auto& b : *all) b = static_cast<uint8_t>(rng());
    const uint64_t desc = near_edge(16);
    const uint16_t keys[] = {0, 1, 0x19, 0x20, 0x21, 0x22, 0x11, 0x8000, 0x4020};
    const uint32_t control = (uint32_t{keys[rng() % 9]} << 16) | static_cast<uint32_t>(rng() % 32);
    const uint32_t length = rng() % 4 == 0 ? static_cast<uint32_t>(rng()) : rng() % 0x900;
    const uint64_t address = near_edge(length);
    if (mem->Contains(desc, 16)) {
      uint8_t d[16];
      for (int i = 0; i < 4; ++i) d[i] = static_cast<uint8_t>(control >> (24 - 8 * i));
      for (int i = 0; i < 4; ++i) d[4 + i] = static_cast<uint8_t>(length >> (24 - 8 * i));
      for (int i = 0; i < 8; ++i) d[8 + i] = static_cast<uint8_t>(address >> (56 - 8 * i));
      ASSERT_THAT(mem->Write(desc, d), IsOk());
    }
    const std::vector<uint8_t> before(all->begin(), all->end());
    FwCfgDmaResult r = ProcessFwCfgDma(*mem, desc, items, cursor);
    ASSERT_TRUE(r.control == 0 || r.control == f::kDmaCtlError);
    const bool wrote_data = r.control == 0 && (control & f::kDmaCtlRead) && length > 0;
    successes += r.control == 0;
    for (uint64_t i = 0; i < kSize; ++i) {
      const uint64_t gpa = kBase + i;
      if (before[i] == (*all)[i]) continue;
      const bool in_control = r.control_written && gpa - desc < 4;
      const bool in_data = wrote_data && gpa - address < length;
      ASSERT_TRUE(in_control || in_data)
          << "iteration " << iter << ": byte at 0x" << std::hex << gpa << " changed";
    }
    // The cursor never runs past its item.
    const FwCfgBlob* item = items.Find(cursor.key);
    if (item != nullptr) {
      ASSERT_LE(cursor.offset, item->size());
    }
  }
  EXPECT_GT(successes, 300u);  // the generator does reach the success paths
}

TEST(FwCfgFileBlobTest, OpenErrors) {
  EXPECT_THAT(OpenFileBlob("/nonexistent/vmlinuz"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(OpenFileBlob("/tmp"), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmmd::hw
