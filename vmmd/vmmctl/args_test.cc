#include "vmmd/vmmctl/args.h"

#include <cstdint>
#include <string>

#include "absl/flags/flag.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

ABSL_FLAG(std::string, t_text, "", "test");
ABSL_FLAG(bool, t_bool, false, "test");
ABSL_FLAG(uint64_t, t_big_num, 0, "test");
ABSL_FLAG(std::string, t_unlisted, "", "test: registered but not accepted");

namespace vmmd::vmmctl {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
using ::vmmd::testing::StatusIs;

const std::vector<std::string> kKnown = {"t_text", "t_bool", "t_big_num"};

class ArgsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::SetFlag(&FLAGS_t_text, "");
    absl::SetFlag(&FLAGS_t_bool, false);
    absl::SetFlag(&FLAGS_t_big_num, 0);
  }
};

TEST_F(ArgsTest, FlagsMayComeAnywhere) {
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs({"--t_text=a b", "create", "vm1", "--t-big-num", "42", "--t_bool"}, kKnown);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->positional, ElementsAre("create", "vm1"));
  EXPECT_THAT(parsed->flags_set, UnorderedElementsAre("t_text", "t_bool", "t_big_num"));
  EXPECT_EQ(absl::GetFlag(FLAGS_t_text), "a b");
  EXPECT_EQ(absl::GetFlag(FLAGS_t_big_num), 42u);
  EXPECT_TRUE(absl::GetFlag(FLAGS_t_bool));
  EXPECT_FALSE(parsed->help);
}

TEST_F(ArgsTest, ARepeatedFlagKeepsEveryValueInOrder) {
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs({"--t_text=a", "create", "--t-text", "b,ro", "--t_text=c"}, kKnown);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->values["t_text"], ElementsAre("a", "b,ro", "c"));
  EXPECT_EQ(absl::GetFlag(FLAGS_t_text), "c");  // the flag itself: the last
}

TEST_F(ArgsTest, DashedNamesAndSingleDash) {
  ASSERT_TRUE(ParseArgs({"-t-big-num=7", "--t-text", "x"}, kKnown).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_t_big_num), 7u);
  EXPECT_EQ(absl::GetFlag(FLAGS_t_text), "x");
}

TEST_F(ArgsTest, ValueMayLookLikeAFlag) {
  ASSERT_TRUE(ParseArgs({"--t_text", "--t_bool"}, kKnown).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_t_text), "--t_bool");
  EXPECT_FALSE(absl::GetFlag(FLAGS_t_bool));
}

TEST_F(ArgsTest, BooleanForms) {
  // The negation of t_bool is "no" + "t_bool": --not_bool.
  ASSERT_TRUE(ParseArgs({"--t_bool"}, kKnown).ok());
  EXPECT_TRUE(absl::GetFlag(FLAGS_t_bool));
  ASSERT_TRUE(ParseArgs({"--not_bool"}, kKnown).ok());
  EXPECT_FALSE(absl::GetFlag(FLAGS_t_bool));
  ASSERT_TRUE(ParseArgs({"--t_bool=true"}, kKnown).ok());
  EXPECT_TRUE(absl::GetFlag(FLAGS_t_bool));
  ASSERT_TRUE(ParseArgs({"--not-bool"}, kKnown).ok());
  EXPECT_FALSE(absl::GetFlag(FLAGS_t_bool));
  ASSERT_TRUE(ParseArgs({"--t_bool=true"}, kKnown).ok());
  absl::StatusOr<ParsedArgs> parsed = ParseArgs({"--t_bool=false"}, kKnown);
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(absl::GetFlag(FLAGS_t_bool));
  EXPECT_THAT(parsed->flags_set, UnorderedElementsAre("t_bool"));
  // A negation takes no value, and only booleans have one.
  EXPECT_THAT(ParseArgs({"--not_bool=1"}, kKnown), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseArgs({"--not_text"}, kKnown), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ArgsTest, DoubleDashEndsFlags) {
  absl::StatusOr<ParsedArgs> parsed = ParseArgs({"get", "--", "--t_bool"}, kKnown);
  ASSERT_TRUE(parsed.ok());
  EXPECT_THAT(parsed->positional, ElementsAre("get", "--t_bool"));
  EXPECT_FALSE(absl::GetFlag(FLAGS_t_bool));
}

TEST_F(ArgsTest, Help) {
  EXPECT_TRUE(ParseArgs({"--help"}, kKnown)->help);
  EXPECT_TRUE(ParseArgs({"list", "-h"}, kKnown)->help);
}

TEST_F(ArgsTest, UsageErrors) {
  EXPECT_THAT(ParseArgs({"--bogus"}, kKnown),
              StatusIs(absl::StatusCode::kInvalidArgument, "unknown flag --bogus"));
  EXPECT_THAT(ParseArgs({"--t_unlisted=x"}, kKnown),
              StatusIs(absl::StatusCode::kInvalidArgument, "unknown flag --t_unlisted"));
  EXPECT_THAT(ParseArgs({"list", "--t-text"}, kKnown),
              StatusIs(absl::StatusCode::kInvalidArgument, "--t-text needs a value"));
  EXPECT_THAT(ParseArgs({"--t_big_num=-1"}, kKnown),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::StartsWith("bad value '-1' for --t_big_num")));
  EXPECT_THAT(ParseArgs({"--t_bool=maybe"}, kKnown), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ArgsTest, SingleDashAloneIsPositional) {
  absl::StatusOr<ParsedArgs> parsed = ParseArgs({"-"}, kKnown);
  ASSERT_TRUE(parsed.ok());
  EXPECT_THAT(parsed->positional, ElementsAre("-"));
}

}  // namespace
}  // namespace vmmd::vmmctl
