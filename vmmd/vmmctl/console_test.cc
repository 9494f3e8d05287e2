#include "vmmd/vmmctl/console.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::vmmctl {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmmctl-console-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/console.log";
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  static void Append(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary | std::ios::app) << text;
  }
  std::string Poll(LogFollower& f) {
    absl::StatusOr<std::string> s = f.Poll();
    EXPECT_THAT(s, IsOk());
    return s.ok() ? *s : "<error>";
  }

  std::string dir_, path_;
};

TEST_F(ConsoleTest, ReadsTheRotatedPartFirst) {
  EXPECT_THAT(ReadConsoleLog(path_),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("the VM has not started")));
  Append(path_, "newer\n");
  EXPECT_EQ(ReadConsoleLog(path_).value_or("<error>"), "newer\n");
  Append(path_ + ".1", "older\n");
  absl::StatusOr<std::string> all = ReadConsoleLog(path_);
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(*all, "older\nnewer\n");
}

TEST_F(ConsoleTest, FollowsGrowthAndRotation) {
  LogFollower f(path_);
  EXPECT_EQ(Poll(f), "");  // not there yet: nothing, no error
  Append(path_, "one\n");
  EXPECT_EQ(Poll(f), "one\n");
  EXPECT_EQ(Poll(f), "");
  Append(path_, "two\n");
  // vmmd rotates: the rest of the old file, then the new one, each byte once.
  Append(path_, "three\n");
  ASSERT_EQ(::rename(path_.c_str(), (path_ + ".1").c_str()), 0);
  Append(path_, "four\n");
  EXPECT_EQ(Poll(f), "two\nthree\nfour\n");
  // Rotated with no new file yet.
  Append(path_, "five\n");
  ASSERT_EQ(::rename(path_.c_str(), (path_ + ".1").c_str()), 0);
  EXPECT_EQ(Poll(f), "five\n");
  Append(path_, "six\n");
  EXPECT_EQ(Poll(f), "six\n");
  // Cut shorter: read again from the start.
  ASSERT_EQ(::truncate(path_.c_str(), 0), 0);
  Append(path_, "7\n");
  EXPECT_EQ(Poll(f), "7\n");
}

TEST_F(ConsoleTest, ASymlinkIsNotFollowed) {
  Append(dir_ + "/target", "host file\n");
  ASSERT_EQ(::symlink((dir_ + "/target").c_str(), path_.c_str()), 0);
  EXPECT_THAT(ReadConsoleLog(path_), StatusIs(absl::StatusCode::kInternal, HasSubstr("open")));
}

}  // namespace
}  // namespace vmmd::vmmctl
