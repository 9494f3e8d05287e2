#include "core/common/log.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::ElementsAre;

TEST(LogRateLimiterTest, FirstEightThenEvery1024th) {
  LogRateLimiter limiter;
  std::vector<uint64_t> logged;
  for (int i = 0; i < 200000; ++i) {
    if (uint64_t n = limiter.Count(); n != 0) logged.push_back(n);
  }
  EXPECT_EQ(limiter.count(), 200000u);
  ASSERT_EQ(logged.size(), 8u + 200000u / 1024u);
  EXPECT_THAT(std::vector<uint64_t>(logged.begin(), logged.begin() + 10),
              ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 1024, 2048));
  EXPECT_EQ(logged.back(), 195u * 1024u);
}

TEST(ScopedLogCaptureTest, RecordsLevelAndMessage) {
  ScopedLogCapture capture;
  LogWarning("vm %s: %u", "a", 7u);
  LogDebug("not at the default level");
  EXPECT_THAT(capture.lines(), ElementsAre("W vm a: 7"));
}

}  // namespace
}  // namespace vmmd
