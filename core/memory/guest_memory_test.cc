#include "core/memory/guest_memory.h"

#include <cstdint>
#include <limits>

#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::core {
namespace {

using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kBase = 0x4000'0000;
constexpr uint64_t kSize = 1 << 20;

TEST(GuestMemoryTest, ReadWriteInsideRam) {
  auto mem = GuestMemory::Create(kBase, kSize);
  ASSERT_THAT(mem, IsOk());
  ASSERT_THAT((*mem)->WriteObj<uint64_t>(kBase + 8, 0x1122334455667788ULL), IsOk());
  auto v = (*mem)->ReadObj<uint64_t>(kBase + 8);
  ASSERT_THAT(v, IsOk());
  EXPECT_EQ(*v, 0x1122334455667788ULL);
  // Last byte is addressable.
  EXPECT_THAT((*mem)->WriteObj<uint8_t>(kBase + kSize - 1, 7), IsOk());
}

TEST(GuestMemoryTest, RejectsEveryOutOfRangeForm) {
  auto mem = GuestMemory::Create(kBase, kSize);
  ASSERT_THAT(mem, IsOk());
  const GuestMemory& m = **mem;
  EXPECT_THAT(m.ReadObj<uint32_t>(kBase - 4), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(m.ReadObj<uint32_t>(kBase + kSize - 2), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(m.ReadObj<uint32_t>(kBase + kSize), StatusIs(absl::StatusCode::kOutOfRange));
  // Lengths and addresses chosen to overflow naive `gpa + len` arithmetic.
  EXPECT_THAT(m.GetSpan(kBase + 16, std::numeric_limits<uint64_t>::max() - 8),
              StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(m.GetSpan(std::numeric_limits<uint64_t>::max() - 2, 4),
              StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_FALSE(m.Contains(kBase, kSize + 1));
  EXPECT_TRUE(m.Contains(kBase, kSize));
  EXPECT_TRUE(m.Contains(kBase + kSize, 0));
}

TEST(GuestMemoryTest, RejectsEmptyAndWrappingRegions) {
  EXPECT_THAT(GuestMemory::Create(kBase, 0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(GuestMemory::Create(std::numeric_limits<uint64_t>::max() - 4096, 8192),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmmd::core
