#include "core/common/kernel_cmdline.h"

#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace vmmd {
namespace {

TEST(KernelParameterTest, FindsAValue) {
  EXPECT_EQ(KernelParameter("ro quiet kvm-arm.wfi_trap_policy=notrap\n", "kvm-arm.wfi_trap_policy"),
            "notrap");
}

TEST(KernelParameterTest, AbsentIsNullopt) {
  EXPECT_EQ(KernelParameter("ro quiet", "kvm-arm.wfi_trap_policy"), std::nullopt);
  EXPECT_EQ(KernelParameter("", "quiet"), std::nullopt);
  EXPECT_EQ(KernelParameter("   \n", "quiet"), std::nullopt);
  // A parameter that only starts with the name is another parameter.
  EXPECT_EQ(KernelParameter("kvm-arm.wfi_trap_policy_x=notrap", "kvm-arm.wfi_trap_policy"),
            std::nullopt);
}

TEST(KernelParameterTest, BareParameterHasAnEmptyValue) {
  EXPECT_EQ(KernelParameter("ro quiet", "quiet"), "");
}

TEST(KernelParameterTest, DashAndUnderscoreAreTheSame) {
  EXPECT_EQ(KernelParameter("kvm_arm.wfi_trap_policy=trap", "kvm-arm.wfi-trap-policy"), "trap");
}

TEST(KernelParameterTest, LastOneCounts) {
  EXPECT_EQ(KernelParameter("kvm-arm.wfi_trap_policy=notrap kvm-arm.wfi_trap_policy=trap",
                            "kvm-arm.wfi_trap_policy"),
            "trap");
}

TEST(KernelParameterTest, QuotesKeepSpacesAndAreDropped) {
  EXPECT_EQ(KernelParameter("a=\"x y\" dyndbg=\"file a.c +p\" b", "dyndbg"), "file a.c +p");
  EXPECT_EQ(KernelParameter("a=\"x y\" b=2", "b"), "2");
  // An unterminated quote runs to the end, like the kernel's parser.
  EXPECT_EQ(KernelParameter("a=\"x y", "a"), "x y");
}

TEST(KernelParameterTest, ReadsTheRunningHosts) {
  absl::StatusOr<std::string> cmdline = ReadHostKernelCmdline();
  ASSERT_TRUE(cmdline.ok()) << cmdline.status();
  EXPECT_FALSE(cmdline->empty());
}

}  // namespace
}  // namespace vmmd
