#include "core/common/bounded_echo.h"

#include <string>

#include "gtest/gtest.h"

namespace vmmd {
namespace {

TEST(BoundedEchoTest, ShortTextIsEscapedWhole) {
  EXPECT_EQ(BoundedEcho("/guest/Image"), "/guest/Image");
  EXPECT_EQ(BoundedEcho("a\"b\nc"), "a\\\"b\\nc");
}

TEST(BoundedEchoTest, LongTextIsCutAndSaysHowLongItWas) {
  const std::string path = "/" + std::string(3 << 20, 'a');
  const std::string echo = BoundedEcho(path);
  EXPECT_EQ(echo, "/" + std::string(kMaxEchoBytes - 1, 'a') + "...(3145729 bytes)");
  EXPECT_EQ(kMaxEchoBytes, 200u);
  EXPECT_EQ(BoundedEcho("abcdef", 3), "abc...(6 bytes)");
  EXPECT_EQ(BoundedEcho("abc", 3), "abc");
}

}  // namespace
}  // namespace vmmd
