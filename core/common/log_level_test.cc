#include "core/common/log_level.h"

#include "gtest/gtest.h"

namespace vmmd {
namespace {

TEST(ParseLogLevelTest, TheFourNamesAndNothingElse) {
  LogLevel level = LogLevel::kError;
  ASSERT_TRUE(ParseLogLevel("debug", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  ASSERT_TRUE(ParseLogLevel("info", &level));
  EXPECT_EQ(level, LogLevel::kInfo);
  ASSERT_TRUE(ParseLogLevel("warning", &level));
  EXPECT_EQ(level, LogLevel::kWarning);
  ASSERT_TRUE(ParseLogLevel("error", &level));
  EXPECT_EQ(level, LogLevel::kError);
  for (const char* bad : {"", "Info", "warn", "debug ", "trace"}) {
    EXPECT_FALSE(ParseLogLevel(bad, &level)) << bad;
    EXPECT_EQ(level, LogLevel::kError) << "untouched by " << bad;
  }
}

}  // namespace
}  // namespace vmmd
