// The split virtqueue against rings laid out in real guest RAM as a driver would, and as a
// hostile one would: loops, indices out of range, buffers outside RAM, nested indirect tables.
#include "hw/virtio/virtqueue.h"

#include <memory>

#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::hw::virtio {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kBase = 0x4000'0000;
constexpr uint64_t kRam = 1 << 20;
constexpr uint32_t kSize = 8;
constexpr uint64_t kDesc = kBase + 0x1000;
constexpr uint64_t kAvail = kBase + 0x2000;
constexpr uint64_t kUsed = kBase + 0x3000;
constexpr uint64_t kData = kBase + 0x10000;

class VirtqueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = core::GuestMemory::Create(kBase, kRam);
    ASSERT_THAT(m, IsOk());
    mem_ = *std::move(m);
  }
  QueueConfig Config(bool event_idx = false, bool indirect = false) {
    return QueueConfig{kSize, kDesc, kAvail, kUsed, event_idx, indirect};
  }
  Virtqueue Queue(QueueConfig c) {
    absl::StatusOr<Virtqueue> q = Virtqueue::Create(mem_.get(), c);
    EXPECT_THAT(q, IsOk());
    return *std::move(q);
  }
  void SetDesc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
               uint16_t next) {
    ASSERT_THAT(mem_->WriteObj(table + 16 * i, addr), IsOk());
    ASSERT_THAT(mem_->WriteObj(table + 16 * i + 8, len), IsOk());
    ASSERT_THAT(mem_->WriteObj(table + 16 * i + 12, flags), IsOk());
    ASSERT_THAT(mem_->WriteObj(table + 16 * i + 14, next), IsOk());
  }
  // The driver makes chain `head` available (next ring slot) and publishes the index.
  void MakeAvailable(uint16_t head) {
    const uint16_t idx = *mem_->ReadObj<uint16_t>(kAvail + 2);
    ASSERT_THAT(mem_->WriteObj<uint16_t>(kAvail + 4 + 2 * (idx % kSize), head), IsOk());
    ASSERT_THAT(mem_->WriteObj<uint16_t>(kAvail + 2, static_cast<uint16_t>(idx + 1)), IsOk());
  }
  std::unique_ptr<core::GuestMemory> mem_;
};

TEST_F(VirtqueueTest, CreateRefusesBadSizesAndPlacements) {
  EXPECT_THAT(Virtqueue::Create(mem_.get(), {6, kDesc, kAvail, kUsed}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("power of 2")));
  EXPECT_THAT(Virtqueue::Create(mem_.get(), {65536, kDesc, kAvail, kUsed}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Virtqueue::Create(mem_.get(), {8, kDesc + 8, kAvail, kUsed}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("misaligned")));
  EXPECT_THAT(Virtqueue::Create(mem_.get(), {8, kDesc, kAvail, kBase + kRam - 16}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outside guest RAM")));
  EXPECT_THAT(Virtqueue::Create(mem_.get(), {8, 0x1000, kAvail, kUsed}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(VirtqueueTest, ARequestWithReadableThenWritableBuffersAndItsCompletion) {
  Virtqueue q = Queue(Config());
  EXPECT_EQ(*q.Pop(), std::nullopt);  // nothing available yet
  SetDesc(kDesc, 3, kData, 16, kDescNext, 5);
  SetDesc(kDesc, 5, kData + 0x100, 512, kDescNext | kDescWrite, 1);
  SetDesc(kDesc, 1, kData + 0x400, 1, kDescWrite, 0);
  MakeAvailable(3);
  absl::StatusOr<std::optional<Chain>> c = q.Pop();
  ASSERT_THAT(c, IsOk());
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->head, 3);
  ASSERT_EQ((*c)->readable.size(), 1u);
  EXPECT_EQ((*c)->readable[0].gpa, kData);
  ASSERT_EQ((*c)->writable.size(), 2u);
  EXPECT_EQ((*c)->writable_bytes, 513u);
  EXPECT_EQ(*q.Pop(), std::nullopt);

  ASSERT_THAT(q.PushUsed(3, 513), IsOk());
  EXPECT_EQ(*mem_->ReadObj<uint16_t>(kUsed + 2), 1);
  EXPECT_EQ(*mem_->ReadObj<uint32_t>(kUsed + 4), 3u);
  EXPECT_EQ(*mem_->ReadObj<uint32_t>(kUsed + 8), 513u);
  EXPECT_EQ(*q.ShouldInterrupt(), true);
  EXPECT_EQ(*q.ShouldInterrupt(), false);  // nothing returned since
  ASSERT_THAT(mem_->WriteObj<uint16_t>(kAvail, kAvailNoInterrupt), IsOk());
  ASSERT_THAT(q.PushUsed(3, 0), IsOk());
  EXPECT_EQ(*q.ShouldInterrupt(), false);  // the driver asked for none
  EXPECT_THAT(q.PushUsed(8, 0), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(VirtqueueTest, UnpublishedElementsReachTheDriverTogether) {
  Virtqueue q = Queue(Config());
  ASSERT_THAT(q.PushUsed(1, 10, /*publish=*/false), IsOk());
  ASSERT_THAT(q.PushUsed(2, 20, /*publish=*/false), IsOk());
  EXPECT_EQ(*mem_->ReadObj<uint16_t>(kUsed + 2), 0);  // written, not handed over
  EXPECT_EQ(*mem_->ReadObj<uint32_t>(kUsed + 12), 2u);
  ASSERT_THAT(q.PushUsed(3, 30, /*publish=*/false), IsOk());
  ASSERT_THAT(q.PublishUsed(), IsOk());
  EXPECT_EQ(*mem_->ReadObj<uint16_t>(kUsed + 2), 3);
  EXPECT_EQ(*mem_->ReadObj<uint32_t>(kUsed + 20), 3u);
  EXPECT_EQ(*mem_->ReadObj<uint32_t>(kUsed + 24), 30u);
}

TEST_F(VirtqueueTest, IndicesWrapAt16Bits) {
  Virtqueue q = Queue(Config());
  SetDesc(kDesc, 0, kData, 8, 0, 0);
  for (int i = 0; i < 70000; ++i) {
    MakeAvailable(0);
    absl::StatusOr<std::optional<Chain>> c = q.Pop();
    ASSERT_THAT(c, IsOk()) << i;
    ASSERT_TRUE(c->has_value()) << i;
    ASSERT_THAT(q.PushUsed(0, 0), IsOk());
  }
  EXPECT_EQ(q.next_avail(), static_cast<uint16_t>(70000));
  EXPECT_EQ(*mem_->ReadObj<uint16_t>(kUsed + 2), static_cast<uint16_t>(70000));
}

TEST_F(VirtqueueTest, AHostileDriverBreaksOnlyTheQueue) {
  auto broken = [&](auto setup, const char* why) {
    SCOPED_TRACE(why);
    SetUp();  // fresh, zeroed RAM
    Virtqueue q = Queue(Config());
    setup();
    EXPECT_THAT(q.Pop(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr(why)));
  };
  broken(
      [&] {
        SetDesc(kDesc, 0, kData, 8, kDescNext, 1);
        SetDesc(kDesc, 1, kData, 8, kDescNext, 0);
        MakeAvailable(0);
      },
      "a loop");
  broken(
      [&] {
        SetDesc(kDesc, 0, kData, 8, kDescNext, 0);
        MakeAvailable(0);
      },
      "a loop");
  broken(
      [&] {
        SetDesc(kDesc, 0, kData, 8, kDescNext, 9);
        MakeAvailable(0);
      },
      "beyond the queue size");
  broken([&] { MakeAvailable(8); }, "head 8 beyond");
  broken(
      [&] {
        SetDesc(kDesc, 0, kBase + kRam - 4, 8, 0, 0);
        MakeAvailable(0);
      },
      "outside guest RAM");
  broken(
      [&] {
        SetDesc(kDesc, 0, ~0ULL - 2, 8, 0, 0);
        MakeAvailable(0);
      },
      "outside guest RAM");
  broken(
      [&] {
        SetDesc(kDesc, 0, kData, 8, kDescWrite | kDescNext, 1);
        SetDesc(kDesc, 1, kData, 8, 0, 0);
        MakeAvailable(0);
      },
      "readable descriptor after a device-writable");
  broken([&] { ASSERT_THAT(mem_->WriteObj<uint16_t>(kAvail + 2, 9), IsOk()); }, "9 entries ahead");
  broken(
      [&] {
        SetDesc(kDesc, 0, kData, 64, kDescIndirect, 0);
        MakeAvailable(0);
      },
      "without VIRTIO_F_INDIRECT_DESC");
}

TEST_F(VirtqueueTest, IndirectTables) {
  auto pop = [&](auto setup) {
    SetUp();
    Virtqueue q = Queue(Config(false, /*indirect=*/true));
    setup();
    MakeAvailable(0);
    return q.Pop();
  };
  const uint64_t table = kData + 0x8000;
  absl::StatusOr<std::optional<Chain>> c = pop([&] {
    SetDesc(kDesc, 0, table, 48, kDescIndirect, 0);
    SetDesc(table, 0, kData, 10, kDescNext, 2);
    SetDesc(table, 2, kData + 0x100, 20, kDescNext | kDescWrite, 1);
    SetDesc(table, 1, kData + 0x200, 30, kDescWrite, 0);
  });
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ((*c)->readable_bytes, 10u);
  EXPECT_EQ((*c)->writable_bytes, 50u);
  EXPECT_THAT(pop([&] { SetDesc(kDesc, 0, table, 40, kDescIndirect, 0); }),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("a multiple of 16")));
  EXPECT_THAT(pop([&] { SetDesc(kDesc, 0, table, 16 * 9, kDescIndirect, 0); }),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("at most 8 entries")));
  EXPECT_THAT(pop([&] {
                SetDesc(kDesc, 0, table, 32, kDescIndirect, 0);
                SetDesc(table, 0, kData, 8, kDescNext, 1);
                SetDesc(table, 1, kData, 8, kDescNext, 0);
              }),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("a loop in an indirect table")));
  EXPECT_THAT(pop([&] {
                SetDesc(kDesc, 0, table, 16, kDescIndirect, 0);
                SetDesc(table, 0, table, 16, kDescIndirect, 0);
              }),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("inside another")));
  EXPECT_THAT(pop([&] { SetDesc(kDesc, 0, table, 16, kDescIndirect | kDescNext, 1); }),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("with NEXT set")));
  EXPECT_THAT(pop([&] { SetDesc(kDesc, 0, kBase + kRam - 16, 32, kDescIndirect, 0); }),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("outside guest RAM")));
}

// VIRTIO_F_EVENT_IDX: an interrupt only when the used index passes the driver's used_event;
// the device asks for a notification by publishing its next available index.
TEST_F(VirtqueueTest, EventIndexSuppressesInterrupts) {
  Virtqueue q = Queue(Config(/*event_idx=*/true));
  SetDesc(kDesc, 0, kData, 8, 0, 0);
  const uint64_t used_event = kAvail + 4 + 2 * kSize;
  ASSERT_THAT(mem_->WriteObj<uint16_t>(used_event, 1), IsOk());  // interrupt after the 2nd
  for (int i = 0; i < 3; ++i) {
    MakeAvailable(0);
    ASSERT_TRUE((*q.Pop()).has_value());
    ASSERT_THAT(q.PushUsed(0, 0), IsOk());
    EXPECT_EQ(*q.ShouldInterrupt(), i == 1) << i;
  }
  ASSERT_THAT(q.EnableNotification(), IsOk());
  EXPECT_EQ(*mem_->ReadObj<uint16_t>(kUsed + 4 + 8 * kSize), 3);  // avail_event
}

}  // namespace
}  // namespace vmmd::hw::virtio
