#include "core/bus/bus.h"

#include <vector>

#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::core {
namespace {

using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

class RecordingDevice : public BusDevice {
 public:
  void Read(uint64_t offset, absl::Span<uint8_t> data) override {
    reads.push_back({offset, data.size()});
    StoreLe(data, 0xA0 + offset);
  }
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override {
    writes.push_back({offset, LoadLe(data)});
  }
  std::vector<std::pair<uint64_t, uint64_t>> reads, writes;
};

TEST(BusTest, RoutesAccessesWithDeviceRelativeOffsets) {
  Bus bus;
  auto a = std::make_shared<RecordingDevice>();
  auto b = std::make_shared<RecordingDevice>();
  ASSERT_THAT(bus.Insert(0x1000, 0x100, a, "a"), IsOk());
  ASSERT_THAT(bus.Insert(0x1100, 0x10, b, "b"), IsOk());
  uint8_t buf[4] = {};
  EXPECT_TRUE(bus.Read(0x1004, buf));
  EXPECT_EQ(LoadLe(buf), 0xA4u);
  const uint8_t w[2] = {0x34, 0x12};
  EXPECT_TRUE(bus.Write(0x110C, w));
  ASSERT_EQ(b->writes.size(), 1u);
  EXPECT_EQ(b->writes[0], std::make_pair(uint64_t{0xC}, uint64_t{0x1234}));
  EXPECT_TRUE(a->writes.empty());
}

TEST(BusTest, RejectsOverlapsZeroSizeAndWrap) {
  Bus bus;
  auto d = std::make_shared<RecordingDevice>();
  ASSERT_THAT(bus.Insert(0x1000, 0x100, d, "a"), IsOk());
  EXPECT_THAT(bus.Insert(0x10FF, 0x10, d, "tail"), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(bus.Insert(0xF00, 0x101, d, "head"), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(bus.Insert(0x1010, 0x10, d, "inside"), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(bus.Insert(0x0, 0x10000, d, "around"), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(bus.Insert(0x2000, 0, d, "empty"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(bus.Insert(~0ULL - 0xF, 0x20, d, "wrap"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Adjacent on both sides is fine.
  EXPECT_THAT(bus.Insert(0xF00, 0x100, d, "before"), IsOk());
  EXPECT_THAT(bus.Insert(0x1100, 0x100, d, "after"), IsOk());
}

TEST(BusTest, UnmappedAndStraddlingAccessesAreCountedAndIgnored) {
  Bus bus;
  auto d = std::make_shared<RecordingDevice>();
  ASSERT_THAT(bus.Insert(0x1000, 0x10, d, "a"), IsOk());
  uint8_t buf[8];
  std::fill(std::begin(buf), std::end(buf), 0xFF);
  EXPECT_FALSE(bus.Read(0x2000, buf));
  EXPECT_EQ(LoadLe(buf), 0u);  // reads as zero
  EXPECT_FALSE(bus.Read(0x100C, buf));  // 8 bytes at 0xC straddle the end
  const uint8_t w[4] = {1, 2, 3, 4};
  EXPECT_FALSE(bus.Write(0xFFE, w));  // starts before the device
  EXPECT_EQ(bus.unmapped_accesses(), 3u);
  EXPECT_TRUE(d->reads.empty());
  EXPECT_TRUE(d->writes.empty());
}

}  // namespace
}  // namespace vmmd::core
