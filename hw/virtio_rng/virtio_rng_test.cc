// virtio-rng behind the virtio-mmio transport, driven by the test driver: random bytes land in
// exactly the bytes the device reports, oversized and malformed requests are capped or refused
// alone, and the per-call budget leaves no chain behind. The budget itself is checked on a
// bare queue, one Process call at a time.
#include "hw/virtio_rng/virtio_rng.h"

#include <memory>
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

using ::testing::Each;
using ::testing::Not;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::MmioRead;
using ::vmmd::testing::StatusIs;
using ::vmmd::testing::TestVirtioDriver;

constexpr uint64_t kRamBase = 0x4000'0000;
constexpr uint64_t kRamSize = 8 << 20;
constexpr uint64_t kRings = kRamBase + 0x10'0000;
constexpr uint64_t kData = kRamBase + 0x30'0000;
constexpr uint8_t kSentinel = 0xEE;

class VirtioRngTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    auto m = core::GuestMemory::Create(kRamBase, kRamSize);
    ASSERT_THAT(m, IsOk());
    mem_ = *std::move(m);
    auto dev = VirtioRng::Create(mem_.get());
    ASSERT_THAT(dev, IsOk());
    rng_ = dev->get();
    auto rig = vmmd::testing::StartVirtioRig(
        *std::move(dev), *mem_, &irq_, {.base = 0x0a00'0000, .size = mmio::kWindowSize, .spi = 16},
        0, kRings, "rng-test");
    ASSERT_THAT(rig, IsOk());
    transport_ = std::move(rig->transport);
    loop_ = std::move(rig->loop);
    driver_ = std::move(rig->driver);
    ASSERT_THAT(driver_->Init(kFeatureVersion1 | (GetParam() ? kFeatureEventIdx : 0), 1, 64),
                IsOk());
  }
  void TearDown() override {
    if (loop_ != nullptr) loop_->Stop();
  }
  // Submits `segs`, notifies, waits; returns the used length.
  uint32_t Run(const std::vector<TestVirtioDriver::Seg>& segs) {
    const uint16_t head = driver_->Submit(0, segs);
    driver_->Notify(0);
    EXPECT_TRUE(driver_->WaitUsed(0, ++submitted_));
    const TestVirtioDriver::Used u = driver_->UsedElem(0, static_cast<uint16_t>(submitted_ - 1));
    EXPECT_EQ(u.id, head);
    return u.len;
  }
  void Fill(uint64_t gpa, size_t n, uint8_t value) {
    ASSERT_THAT(mem_->Write(gpa, std::vector<uint8_t>(n, value)), IsOk());
  }
  std::vector<uint8_t> Bytes(uint64_t gpa, size_t n) {
    std::vector<uint8_t> out(n);
    EXPECT_THAT(mem_->Read(gpa, absl::MakeSpan(out)), IsOk());
    return out;
  }

  std::unique_ptr<core::GuestMemory> mem_;
  vmmd::testing::RecordingIrq irq_;
  VirtioRng* rng_ = nullptr;
  std::shared_ptr<VirtioMmio> transport_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<TestVirtioDriver> driver_;
  uint16_t submitted_ = 0;
};

TEST_P(VirtioRngTest, AnEntropyDeviceWithOneQueueNoFeaturesNoConfiguration) {
  EXPECT_EQ(MmioRead(*transport_, mmio::kDeviceId, 4), 4u);
  EXPECT_EQ(driver_->DeviceFeatures(), kFeatureVersion1 | kFeatureIndirectDesc | kFeatureEventIdx);
  driver_->SetReg(mmio::kQueueSel, 0);
  EXPECT_EQ(driver_->Reg(mmio::kQueueNumMax), 64u);
  driver_->SetReg(mmio::kQueueSel, 1);
  EXPECT_EQ(driver_->Reg(mmio::kQueueNumMax), 0u);
  EXPECT_EQ(MmioRead(*transport_, mmio::kConfig, 4), 0u);
  EXPECT_EQ(MmioRead(*transport_, mmio::kConfig + 8, 8), 0u);
  // A device feature bit it does not offer: FEATURES_OK does not stick.
  EXPECT_THAT(driver_->Init(kFeatureVersion1 | 1, 1, 64),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_P(VirtioRngTest, ARequestGetsExactlyItsBytesAndEachRequestDiffers) {
  Fill(kData, 128, 0);
  Fill(kData + 128, 1, kSentinel);
  EXPECT_EQ(Run({{kData, 64, true}}), 64u);
  EXPECT_EQ(Run({{kData + 64, 64, true}}), 64u);
  const std::vector<uint8_t> first = Bytes(kData, 64), second = Bytes(kData + 64, 64);
  EXPECT_THAT(first, Not(Each(0)));
  EXPECT_THAT(second, Not(Each(0)));
  EXPECT_NE(first, second);
  EXPECT_EQ(Bytes(kData + 128, 1)[0], kSentinel);  // nothing beyond the buffer
  const VirtioRng::Stats s = rng_->GetStats();
  EXPECT_EQ(s.requests, 2u);
  EXPECT_EQ(s.bytes, 128u);
  EXPECT_EQ(s.errors, 0u);
}

TEST_P(VirtioRngTest, AChainSplitAcrossWritableSegmentsIsFilledReadableOnesIgnored) {
  const uint64_t a = kData, b = kData + 0x1000, c = kData + 0x2000, r = kData + 0x3000;
  for (const uint64_t at : {a, b, c}) Fill(at, 0x1000, 0);
  Fill(r, 32, kSentinel);
  EXPECT_EQ(Run({{r, 32, false}, {a, 16, true}, {b, 100, true}, {c, 1000, true}}), 1116u);
  EXPECT_THAT(Bytes(a, 16), Not(Each(0)));
  EXPECT_THAT(Bytes(b, 100), Not(Each(0)));
  EXPECT_THAT(Bytes(c, 1000), Not(Each(0)));
  EXPECT_THAT(Bytes(a + 16, 16), Each(0));
  EXPECT_THAT(Bytes(b + 100, 16), Each(0));
  EXPECT_THAT(Bytes(c + 1000, 16), Each(0));
  EXPECT_THAT(Bytes(r, 32), Each(kSentinel));
  EXPECT_EQ(rng_->GetStats().bytes, 1116u);
}

TEST_P(VirtioRngTest, AnOversizedRequestGetsTheCapFromItsFirstBytes) {
  constexpr uint32_t kCap = rng::kMaxChainBytes;
  ASSERT_EQ(kCap, 65536u);
  Fill(kData, 2 * kCap, kSentinel);
  EXPECT_EQ(Run({{kData, 2 * kCap, true}}), kCap);
  EXPECT_THAT(Bytes(kData + kCap, kCap), Each(kSentinel));
  EXPECT_THAT(Bytes(kData + kCap - 64, 64), Not(Each(kSentinel)));
  // Split: the cap falls inside the second segment.
  const uint64_t second = kData + 0x10'0000;
  Fill(second, 2 * kCap, kSentinel);
  EXPECT_EQ(Run({{kData, 40 << 10, true}, {second, 40 << 10, true}}), kCap);
  EXPECT_THAT(Bytes(second + (24 << 10), 16 << 10), Each(kSentinel));
  EXPECT_THAT(Bytes(second + (24 << 10) - 64, 64), Not(Each(kSentinel)));
  const VirtioRng::Stats s = rng_->GetStats();
  EXPECT_EQ(s.requests, 2u);
  EXPECT_EQ(s.bytes, 2u * kCap);
  EXPECT_EQ(s.errors, 0u);
}

TEST_P(VirtioRngTest, AChainWithoutWritableBytesGetsNothingAndTheDeviceGoesOn) {
  Fill(kData, 64, kSentinel);
  EXPECT_EQ(Run({{kData, 64, false}}), 0u);
  EXPECT_THAT(Bytes(kData, 64), Each(kSentinel));
  VirtioRng::Stats s = rng_->GetStats();
  EXPECT_EQ(s.requests, 1u);
  EXPECT_EQ(s.bytes, 0u);
  EXPECT_EQ(s.errors, 1u);
  EXPECT_EQ(Run({{kData, 16, true}}), 16u);
  s = rng_->GetStats();
  EXPECT_EQ(s.requests, 2u);
  EXPECT_EQ(s.bytes, 16u);
  EXPECT_EQ(s.errors, 1u);
  EXPECT_EQ(transport_->GetStats().broken, 0u);
}

TEST_P(VirtioRngTest, ChainsBeyondOneCallsBudgetAreServedOnTheSameNotification) {
  constexpr uint16_t kChains = 20;  // 1.25 MiB: five calls' budgets
  std::vector<uint16_t> heads;
  for (uint16_t i = 0; i < kChains; ++i) {
    heads.push_back(driver_->Submit(
        0, {{kData + uint64_t{i} * rng::kMaxChainBytes, rng::kMaxChainBytes, true}}));
  }
  driver_->Notify(0);
  ASSERT_TRUE(driver_->WaitUsed(0, kChains));
  for (uint16_t i = 0; i < kChains; ++i) {
    EXPECT_EQ(driver_->UsedElem(0, i).id, heads[i]);
    EXPECT_EQ(driver_->UsedElem(0, i).len, rng::kMaxChainBytes);
  }
  EXPECT_EQ(transport_->GetStats().notifications, 1u);
  const VirtioRng::Stats s = rng_->GetStats();
  EXPECT_EQ(s.requests, kChains);
  EXPECT_EQ(s.bytes, uint64_t{kChains} * rng::kMaxChainBytes);
}

INSTANTIATE_TEST_SUITE_P(EventIdx, VirtioRngTest, ::testing::Bool());

// One Process call on a bare queue: at most kMaxProcessBytes, at most kMaxProcessChains.
TEST(VirtioRngBudgetTest, OneCallServesItsBudgetAndTheNextCallTheRest) {
  auto mem = core::GuestMemory::Create(kRamBase, kRamSize);
  ASSERT_THAT(mem, IsOk());
  const core::GuestMemory& m = **mem;
  const QueueConfig config{
      .size = 128, .desc = kRings, .avail = kRings + 0x4000, .used = kRings + 0x8000};
  auto queue = Virtqueue::Create(&m, config);
  ASSERT_THAT(queue, IsOk());
  auto rng = VirtioRng::Create(&m);
  ASSERT_THAT(rng, IsOk());
  uint16_t published = 0;
  auto publish = [&](uint64_t addr, uint32_t len, uint16_t flags) {
    const uint16_t d = published % 128;
    ASSERT_THAT(m.WriteObj(config.desc + 16 * d, addr), IsOk());
    ASSERT_THAT(m.WriteObj(config.desc + 16 * d + 8, len), IsOk());
    ASSERT_THAT(m.WriteObj(config.desc + 16 * d + 12, flags), IsOk());
    ASSERT_THAT(m.WriteObj(config.avail + 4 + 2 * d, d), IsOk());
    ASSERT_THAT(m.WriteObj<uint16_t>(config.avail + 2, ++published), IsOk());
  };
  auto used_index = [&] { return *m.ReadObj<uint16_t>(config.used + 2); };
  // Ten chains of 64 KiB: four per call (256 KiB).
  for (int i = 0; i < 10; ++i) publish(kData + i * rng::kMaxChainBytes, 1 << 20, kDescWrite);
  const std::vector<uint16_t> expected_used = {4, 8, 10};
  for (const uint16_t expected : expected_used) {
    ASSERT_THAT((*rng)->Process(0, *queue), IsOk());
    EXPECT_EQ(used_index(), expected);
  }
  EXPECT_THAT(queue->HasAvailable(), IsOk());
  EXPECT_FALSE(*queue->HasAvailable());
  // 100 chains without a writable byte: 64 per call.
  for (int i = 0; i < 100; ++i) publish(kData, 8, 0);
  ASSERT_THAT((*rng)->Process(0, *queue), IsOk());
  EXPECT_EQ(used_index(), 10 + 64);
  ASSERT_THAT((*rng)->Process(0, *queue), IsOk());
  EXPECT_EQ(used_index(), 10 + 100);
  const VirtioRng::Stats s = (*rng)->GetStats();
  EXPECT_EQ(s.requests, 110u);
  EXPECT_EQ(s.bytes, 10u * rng::kMaxChainBytes);
  EXPECT_EQ(s.errors, 100u);
}

TEST(VirtioRngCreateTest, NeedsGuestMemory) {
  EXPECT_THAT(VirtioRng::Create(nullptr), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmmd::hw::virtio
