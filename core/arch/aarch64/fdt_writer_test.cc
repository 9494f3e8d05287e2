#include "core/arch/aarch64/fdt_writer.h"

#include <libfdt.h>

#include <cstring>

#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::core::aarch64 {
namespace {

using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

TEST(FdtWriterTest, WritesNodesAndPropertiesThatLibfdtReadsBack) {
  FdtWriter w;
  ASSERT_THAT(w.PropU32("#address-cells", 2), IsOk());
  ASSERT_THAT(w.BeginNode("uart@9000000"), IsOk());
  ASSERT_THAT(w.PropStrings("compatible", {"arm,pl011", "arm,primecell"}), IsOk());
  const std::pair<uint64_t, uint64_t> reg[] = {{0x9000000, 0x1000}};
  ASSERT_THAT(w.PropReg("reg", reg), IsOk());
  ASSERT_THAT(w.PropU64("big", 0x1122334455667788ULL), IsOk());
  ASSERT_THAT(w.EndNode(), IsOk());
  auto blob = w.Finish();
  ASSERT_THAT(blob, IsOk());
  const void* fdt = blob->data();
  ASSERT_EQ(fdt_check_header(fdt), 0);
  int node = fdt_path_offset(fdt, "/uart@9000000");
  ASSERT_GE(node, 0);
  int len = 0;
  const char* compat = static_cast<const char*>(fdt_getprop(fdt, node, "compatible", &len));
  ASSERT_EQ(len, static_cast<int>(sizeof("arm,pl011\0arm,primecell")));
  EXPECT_EQ(std::memcmp(compat, "arm,pl011\0arm,primecell", len), 0);
  const fdt32_t* r = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "reg", &len));
  ASSERT_EQ(len, 16);
  EXPECT_EQ(fdt32_to_cpu(r[1]), 0x9000000u);
  EXPECT_EQ(fdt32_to_cpu(r[3]), 0x1000u);
  const fdt64_t* b = static_cast<const fdt64_t*>(fdt_getprop(fdt, node, "big", &len));
  ASSERT_EQ(len, 8);
  EXPECT_EQ(fdt64_to_cpu(*b), 0x1122334455667788ULL);
}

TEST(FdtWriterTest, UnbalancedNodesAreErrors) {
  FdtWriter unclosed;
  ASSERT_THAT(unclosed.BeginNode("a"), IsOk());
  EXPECT_THAT(unclosed.Finish(), StatusIs(absl::StatusCode::kFailedPrecondition));
  FdtWriter extra;
  EXPECT_THAT(extra.EndNode(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(FdtWriterTest, OverflowIsAnErrorNotACrash) {
  FdtWriter w(256);
  absl::Status s;
  for (int i = 0; i < 100 && s.ok(); ++i) s = w.PropString("p" + std::to_string(i), "0123456789");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kResourceExhausted, ::testing::HasSubstr("256-byte")));
}

}  // namespace
}  // namespace vmmd::core::aarch64
