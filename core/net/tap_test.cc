#include "core/net/tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::core::net {
namespace {

using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

// A persistent interface of `flags` (IFF_TAP/IFF_TUN), deleted again by the destructor; what
// `ip tuntap add` does. Needs CAP_NET_ADMIN and /dev/net/tun.
class HostTun {
 public:
  HostTun(std::string name, short flags) : name_(std::move(name)), flags_(flags) {
    ScopedFd fd(open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    if (!fd.valid()) return;
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, name_.data(), name_.size());
    ifr.ifr_flags = static_cast<short>(flags | IFF_NO_PI);
    if (ioctl(fd.get(), TUNSETIFF, &ifr) != 0 || ioctl(fd.get(), TUNSETPERSIST, 1) != 0) return;
    made_ = true;
  }
  ~HostTun() {
    if (!made_) return;
    // Attaching again (nobody else is) and dropping persistence deletes it on close.
    ScopedFd fd(open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, name_.data(), name_.size());
    ifr.ifr_flags = static_cast<short>(flags_ | IFF_NO_PI);
    if (ioctl(fd.get(), TUNSETIFF, &ifr) == 0) (void)ioctl(fd.get(), TUNSETPERSIST, 0);
  }
  bool made() const { return made_; }

 private:
  std::string name_;
  short flags_;
  bool made_ = false;
};

std::string UniqueName(const char* prefix) {
  return absl::StrFormat("%s%d", prefix, static_cast<int>(getpid() % 100000));
}

class TapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
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
  const std::string name = UniqueName("vt-tap");
  EXPECT_THAT(Tap::Open(name), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(if_nametoindex(name.c_str()), 0u) << "Open must not create the interface";

  HostTun host(name, IFF_TAP);
  ASSERT_TRUE(host.made());
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
  const std::string name = UniqueName("vt-tun");
  HostTun host(name, IFF_TUN);
  ASSERT_TRUE(host.made());
  EXPECT_THAT(Tap::Open(name), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmmd::core::net
