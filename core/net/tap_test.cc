#include "core/net/tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/host_tap.h"
#include "tests/support/status_matchers.h"

namespace vmmd::core::net {
namespace {

using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

class TapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!vmmd::testing::CanMakeHostTaps()) {
      GTEST_SKIP() << "needs root and /dev/net/tun to create TAP interfaces";
    }
  }
};

TEST(TapNameTest, RefusesWhatIsNoInterfaceName) {
  EXPECT_THAT(CheckTapName("tap0", "nics[0].tap"), IsOk());
  EXPECT_THAT(CheckTapName("", "nics[0].tap"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckTapName("0123456789abcdef", "nics[0].tap"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckTapName("0123456789abcde", "nics[0].tap"), IsOk());
  for (const char* bad : {"a/b", "a b", "a:1", "..", "tab\t", "\x01"}) {
    EXPECT_THAT(CheckTapName(bad, "nics[0].tap"), StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
  EXPECT_THAT(Tap::Open("a/b"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(TapTest, AttachesToAnExistingTapOnceAndNeverCreatesOne) {
  vmmd::testing::HostTap host("vt-tap");
  ASSERT_TRUE(host.made());
  const std::string name = host.name();
  const std::string missing = name + "x";
  EXPECT_THAT(Tap::Open(missing), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(if_nametoindex(missing.c_str()), 0u) << "Open must not create the interface";

  absl::StatusOr<std::unique_ptr<Tap>> tap = Tap::Open(name);
  ASSERT_THAT(tap, IsOk());
  EXPECT_EQ((*tap)->name(), name);
  EXPECT_NE(fcntl((*tap)->fd(), F_GETFL) & O_NONBLOCK, 0);
  int header = 0;
  ASSERT_EQ(ioctl((*tap)->fd(), TUNGETVNETHDRSZ, &header), 0);
  EXPECT_EQ(header, static_cast<int>(kVnetHeaderBytes));
  EXPECT_THAT((*tap)->SetOffloads(kOffloadCsum | kOffloadTso4 | kOffloadTso6), IsOk());
  // Nothing to read yet: the port does not block.
  char buf[64];
  EXPECT_EQ(read((*tap)->fd(), buf, sizeof buf), -1);
  EXPECT_EQ(errno, EAGAIN);

  // One reader at a time.
  EXPECT_THAT(Tap::Open(name), StatusIs(absl::StatusCode::kFailedPrecondition));
  tap->reset();
  EXPECT_THAT(Tap::Open(name), IsOk());
}

TEST_F(TapTest, RefusesInterfacesThatAreNotTaps) {
  EXPECT_THAT(Tap::Open("lo"), StatusIs(absl::StatusCode::kInvalidArgument));
  vmmd::testing::HostTap host("vt-tun", IFF_TUN);
  ASSERT_TRUE(host.made());
  EXPECT_THAT(Tap::Open(host.name()), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmmd::core::net
