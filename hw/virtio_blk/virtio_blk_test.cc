// virtio-blk behind the virtio-mmio transport, driven by the test driver against a real image
// file: what the guest reads and writes is checked in the file's bytes, and every malformed
// request gets its own error without stopping the device.
#include "hw/virtio_blk/virtio_blk.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/common/event_loop.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hw/virtio/virtio_mmio.h"
#include "tests/support/mmio.h"
#include "tests/support/status_matchers.h"
#include "tests/support/virtio_driver.h"

namespace vmmd::hw::virtio {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::MmioRead;
using ::vmmd::testing::StatusIs;
using ::vmmd::testing::TestVirtioDriver;

constexpr uint64_t kRamBase = 0x4000'0000;
constexpr uint64_t kRamSize = 8 << 20;
constexpr uint64_t kRings = kRamBase + 0x10'0000;
constexpr uint64_t kHeader = kRamBase + 0x20'0000;
constexpr uint64_t kData = kRamBase + 0x30'0000;
constexpr uint64_t kStatus = kRamBase + 0x2F'0000;
constexpr uint64_t kImageBytes = 1 << 20;  // 2048 sectors
constexpr uint64_t kFeatures = kFeatureVersion1 | blk::kFeatureFlush | blk::kFeatureDiscard |
                               blk::kFeatureWriteZeroes | blk::kFeatureBlockSize;

class VirtioBlockTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { Build(/*read_only=*/false); }
  void TearDown() override {
    if (loop_ != nullptr) loop_->Stop();
    if (!path_.empty()) unlink(path_.c_str());
  }
  void Build(bool read_only) {
    if (loop_ != nullptr) loop_->Stop();
    auto m = core::GuestMemory::Create(kRamBase, kRamSize);
    ASSERT_THAT(m, IsOk());
    mem_ = *std::move(m);
    if (path_.empty()) {
      char path[] = "/tmp/virtio_blk_test.XXXXXX";
      const int fd = mkstemp(path);
      ASSERT_GE(fd, 0);
      path_ = path;
      std::vector<uint8_t> pattern(kImageBytes);
      for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<uint8_t>(i / 512);
      ASSERT_EQ(write(fd, pattern.data(), pattern.size()), static_cast<ssize_t>(pattern.size()));
      close(fd);
    }
    ScopedFd file(open(path_.c_str(), read_only ? O_RDONLY : O_RDWR));
    ASSERT_TRUE(file.valid());
    auto dev = VirtioBlock::Create(std::move(file), mem_.get(),
                                   {.read_only = read_only, .serial = "vmmd-disk0"});
    ASSERT_THAT(dev, IsOk());
    block_ = dev->get();
    auto rig = vmmd::testing::StartVirtioRig(
        *std::move(dev), *mem_, &irq_, {.base = 0x0a00'0000, .size = mmio::kWindowSize, .spi = 16},
        0, kRings, "blk-test");
    ASSERT_THAT(rig, IsOk());
    transport_ = std::move(rig->transport);
    loop_ = std::move(rig->loop);
    driver_ = std::move(rig->driver);
    const uint64_t f = read_only ? kFeatureVersion1 | blk::kFeatureReadOnly | blk::kFeatureFlush
                                 : kFeatures | (GetParam() ? kFeatureEventIdx : 0);
    ASSERT_THAT(driver_->Init(f, 1, 64), IsOk());
  }
  void Header(uint32_t type, uint64_t sector) {
    ASSERT_THAT(mem_->WriteObj(kHeader, type), IsOk());
    ASSERT_THAT(mem_->WriteObj<uint32_t>(kHeader + 4, 0), IsOk());
    ASSERT_THAT(mem_->WriteObj(kHeader + 8, sector), IsOk());
    ASSERT_THAT(mem_->WriteObj<uint8_t>(kStatus, 0xEE), IsOk());
  }
  // Submits `segs`, notifies, waits; returns {status byte, used length}.
  std::pair<uint8_t, uint32_t> Run(const std::vector<TestVirtioDriver::Seg>& segs) {
    driver_->Submit(0, segs);
    driver_->Notify(0);
    EXPECT_TRUE(driver_->WaitUsed(0, ++submitted_));
    const TestVirtioDriver::Used u = driver_->UsedElem(0, static_cast<uint16_t>(submitted_ - 1));
    return {*mem_->ReadObj<uint8_t>(kStatus), u.len};
  }
  std::vector<uint8_t> FileBytes(uint64_t offset, size_t n) {
    std::vector<uint8_t> out(n);
    const int fd = open(path_.c_str(), O_RDONLY);
    EXPECT_EQ(pread(fd, out.data(), n, static_cast<off_t>(offset)), static_cast<ssize_t>(n));
    close(fd);
    return out;
  }

  std::string path_;
  std::unique_ptr<core::GuestMemory> mem_;
  vmmd::testing::RecordingIrq irq_;
  VirtioBlock* block_ = nullptr;
  std::shared_ptr<VirtioMmio> transport_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<TestVirtioDriver> driver_;
  uint16_t submitted_ = 0;
};

TEST_P(VirtioBlockTest, ConfigurationSaysCapacitySectorSizeAndLimits) {
  EXPECT_EQ(MmioRead(*transport_, mmio::kConfig, 8), 2048u);      // capacity
  EXPECT_EQ(MmioRead(*transport_, mmio::kConfig + 12, 4), 254u);  // seg_max
  EXPECT_EQ(MmioRead(*transport_, mmio::kConfig + 20, 4), 512u);  // blk_size
  EXPECT_EQ(MmioRead(*transport_, mmio::kConfig + 34, 2), 1u);    // num_queues
  EXPECT_EQ(MmioRead(*transport_, mmio::kConfig + 40, 4), 1u);    // max_discard_seg
  EXPECT_EQ(MmioRead(*transport_, mmio::kConfig + 60, 4), 0u);    // beyond: zero
  EXPECT_EQ(MmioRead(*transport_, mmio::kDeviceId, 4), 2u);
  EXPECT_EQ(driver_->DeviceFeatures() & blk::kFeatureReadOnly, 0u);
}

TEST_P(VirtioBlockTest, WritesReachTheFileAndReadsComeBack) {
  std::vector<uint8_t> data(1536);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + 1);
  ASSERT_THAT(mem_->Write(kData, data), IsOk());
  Header(blk::kTypeOut, 10);
  // Data split over two buffers, neither a whole sector.
  auto [st, len] = Run(
      {{kHeader, 16, false}, {kData, 700, false}, {kData + 700, 836, false}, {kStatus, 1, true}});
  EXPECT_EQ(st, blk::kStatusOk);
  EXPECT_EQ(len, 1u);
  EXPECT_EQ(FileBytes(10 * 512, 1536), data);
  EXPECT_EQ(FileBytes(13 * 512, 1)[0], 13);  // the next sector untouched

  Header(blk::kTypeIn, 10);
  const uint64_t back = kData + 0x10000;
  std::tie(st, len) =
      Run({{kHeader, 16, false}, {back, 1024, true}, {back + 1024, 512, true}, {kStatus, 1, true}});
  EXPECT_EQ(st, blk::kStatusOk);
  EXPECT_EQ(len, 1537u);
  std::vector<uint8_t> got(1536);
  ASSERT_THAT(mem_->Read(back, absl::MakeSpan(got)), IsOk());
  EXPECT_EQ(got, data);

  Header(blk::kTypeFlush, 0);
  std::tie(st, len) = Run({{kHeader, 16, false}, {kStatus, 1, true}});
  EXPECT_EQ(st, blk::kStatusOk);
  const VirtioBlock::Stats s = block_->GetStats();
  EXPECT_EQ(s.writes, 1u);
  EXPECT_EQ(s.reads, 1u);
  EXPECT_EQ(s.write_bytes, 1536u);
  EXPECT_EQ(s.read_bytes, 1536u);
  EXPECT_EQ(s.flushes, 1u);
  EXPECT_EQ(s.errors, 0u);
}

TEST_P(VirtioBlockTest, AnyLayoutHeaderAndStatusInOneBufferWithData) {
  // Header split 5 + 11, the status byte at the end of the data's buffer.
  Header(blk::kTypeIn, 2);
  auto [st, len] =
      Run({{kHeader, 5, false}, {kHeader + 5, 11, false}, {kData, 512, true}, {kStatus, 1, true}});
  EXPECT_EQ(st, blk::kStatusOk);
  EXPECT_EQ(*mem_->ReadObj<uint8_t>(kData + 511), 2);
  ASSERT_THAT(mem_->WriteObj<uint8_t>(kData + 512, 0xEE), IsOk());
  std::tie(st, len) = Run({{kHeader, 16, false}, {kData, 513, true}});
  EXPECT_EQ(*mem_->ReadObj<uint8_t>(kData + 512), blk::kStatusOk);
  EXPECT_EQ(len, 513u);
}

TEST_P(VirtioBlockTest, GetIdReturnsTheSerial) {
  Header(blk::kTypeGetId, 0);
  std::vector<uint8_t> junk(20, 0xFF);
  ASSERT_THAT(mem_->Write(kData, junk), IsOk());
  auto [st, len] = Run({{kHeader, 16, false}, {kData, 20, true}, {kStatus, 1, true}});
  EXPECT_EQ(st, blk::kStatusOk);
  EXPECT_EQ(len, 21u);
  char id[21] = {};
  ASSERT_THAT(mem_->Read(kData, absl::MakeSpan(reinterpret_cast<uint8_t*>(id), 20)), IsOk());
  EXPECT_STREQ(id, "vmmd-disk0");
}

TEST_P(VirtioBlockTest, BadRequestsFailAloneAndTheDeviceGoesOn) {
  // Beyond the capacity, straddling it, part of a sector, an unknown type.
  Header(blk::kTypeIn, 2048);
  EXPECT_EQ(Run({{kHeader, 16, false}, {kData, 512, true}, {kStatus, 1, true}}).first,
            blk::kStatusIoErr);
  Header(blk::kTypeOut, 2047);
  EXPECT_EQ(Run({{kHeader, 16, false}, {kData, 1024, false}, {kStatus, 1, true}}).first,
            blk::kStatusIoErr);
  Header(blk::kTypeIn, ~0ULL);
  EXPECT_EQ(Run({{kHeader, 16, false}, {kData, 512, true}, {kStatus, 1, true}}).first,
            blk::kStatusIoErr);
  Header(blk::kTypeOut, 0);
  EXPECT_EQ(Run({{kHeader, 16, false}, {kData, 100, false}, {kStatus, 1, true}}).first,
            blk::kStatusIoErr);
  Header(99, 0);
  EXPECT_EQ(Run({{kHeader, 16, false}, {kStatus, 1, true}}).first, blk::kStatusUnsupported);
  // A header shorter than 16 bytes.
  Header(blk::kTypeIn, 0);
  EXPECT_EQ(Run({{kHeader, 8, false}, {kStatus, 1, true}}).first, blk::kStatusIoErr);
  // No status byte at all: returned with nothing written.
  Header(blk::kTypeIn, 0);
  EXPECT_EQ(Run({{kHeader, 16, false}}).second, 0u);
  EXPECT_EQ(block_->GetStats().errors, 7u);
  EXPECT_EQ(FileBytes(0, 1)[0], 0);  // nothing written
  // Still serving.
  Header(blk::kTypeIn, 5);
  EXPECT_EQ(Run({{kHeader, 16, false}, {kData, 512, true}, {kStatus, 1, true}}).first,
            blk::kStatusOk);
  EXPECT_EQ(*mem_->ReadObj<uint8_t>(kData), 5);
  EXPECT_EQ(transport_->GetStats().broken, 0u);
}

TEST_P(VirtioBlockTest, DiscardAndWriteZeroesZeroTheRange) {
  struct {
    uint64_t sector;
    uint32_t count;
    uint32_t flags;
  } seg{16, 8, 0};
  ASSERT_THAT(mem_->WriteObj(kData, seg), IsOk());
  Header(blk::kTypeDiscard, 0);
  EXPECT_EQ(Run({{kHeader, 16, false}, {kData, 16, false}, {kStatus, 1, true}}).first,
            blk::kStatusOk);
  EXPECT_EQ(FileBytes(16 * 512, 4096), std::vector<uint8_t>(4096, 0));
  EXPECT_EQ(FileBytes(24 * 512, 1)[0], 24);
  seg = {30, 1, 0};
  ASSERT_THAT(mem_->WriteObj(kData, seg), IsOk());
  Header(blk::kTypeWriteZeroes, 0);
  EXPECT_EQ(Run({{kHeader, 16, false}, {kData, 16, false}, {kStatus, 1, true}}).first,
            blk::kStatusOk);
  EXPECT_EQ(FileBytes(30 * 512, 512), std::vector<uint8_t>(512, 0));
  EXPECT_EQ(FileBytes(31 * 512, 1)[0], 31);
  // Unmap on a discard, unknown flags, a range past the end: refused.
  seg = {0, 1, 1};
  ASSERT_THAT(mem_->WriteObj(kData, seg), IsOk());
  Header(blk::kTypeDiscard, 0);
  EXPECT_EQ(Run({{kHeader, 16, false}, {kData, 16, false}, {kStatus, 1, true}}).first,
            blk::kStatusUnsupported);
  seg = {2040, 9, 0};
  ASSERT_THAT(mem_->WriteObj(kData, seg), IsOk());
  Header(blk::kTypeWriteZeroes, 0);
  EXPECT_EQ(Run({{kHeader, 16, false}, {kData, 16, false}, {kStatus, 1, true}}).first,
            blk::kStatusIoErr);
  EXPECT_EQ(FileBytes(2040 * 512, 1)[0], static_cast<uint8_t>(2040));
}

TEST_P(VirtioBlockTest, AReadOnlyDiskRefusesWrites) {
  Build(/*read_only=*/true);
  EXPECT_NE(driver_->DeviceFeatures() & blk::kFeatureReadOnly, 0u);
  EXPECT_EQ(driver_->DeviceFeatures() & blk::kFeatureDiscard, 0u);
  std::vector<uint8_t> data(512, 0xAB);
  ASSERT_THAT(mem_->Write(kData, data), IsOk());
  Header(blk::kTypeOut, 1);
  EXPECT_EQ(Run({{kHeader, 16, false}, {kData, 512, false}, {kStatus, 1, true}}).first,
            blk::kStatusIoErr);
  EXPECT_EQ(FileBytes(512, 1)[0], 1);
  Header(blk::kTypeIn, 1);
  EXPECT_EQ(Run({{kHeader, 16, false}, {kData, 512, true}, {kStatus, 1, true}}).first,
            blk::kStatusOk);
  EXPECT_EQ(*mem_->ReadObj<uint8_t>(kData), 1);
}

TEST(VirtioBlockCreateTest, RefusesWhatIsNotADisk) {
  auto mem = core::GuestMemory::Create(kRamBase, kRamSize);
  ASSERT_THAT(mem, IsOk());
  char path[] = "/tmp/virtio_blk_test.XXXXXX";
  ScopedFd small(mkstemp(path));
  ASSERT_TRUE(small.valid());
  ASSERT_EQ(write(small.get(), "tiny", 4), 4);
  unlink(path);
  EXPECT_THAT(VirtioBlock::Create(std::move(small), mem->get(), {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("smaller than one")));
  ScopedFd dir(open("/tmp", O_RDONLY | O_DIRECTORY));
  EXPECT_THAT(VirtioBlock::Create(std::move(dir), mem->get(), {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("regular file")));
}

INSTANTIATE_TEST_SUITE_P(EventIdx, VirtioBlockTest, ::testing::Bool());

}  // namespace
}  // namespace vmmd::hw::virtio
