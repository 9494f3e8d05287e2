// A throwaway TAP (or TUN) interface on the test host, as `ip tuntap add` makes one:
// persistent, detached, deleted again by the destructor. Needs CAP_NET_ADMIN and /dev/net/tun
// (CanMakeHostTaps); names are made unique per test process.
#pragma once

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/strings/str_format.h"
#include "core/common/scoped_fd.h"

namespace vmmd::testing {

inline bool CanMakeHostTaps() { return geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0; }

class HostTap {
 public:
  // `prefix` + this process's id; IFF_TAP unless `flags` says IFF_TUN.
  explicit HostTap(const char* prefix, short flags = IFF_TAP)
      : name_(absl::StrFormat("%s%d", prefix, static_cast<int>(getpid() % 100000))), flags_(flags) {
    ScopedFd fd = Attach();
    made_ = fd.valid() && ioctl(fd.get(), TUNSETPERSIST, 1) == 0;
  }
  ~HostTap() {
    if (!made_) return;
    // Attached again (nobody else is) and no longer persistent: gone when the fd closes.
    ScopedFd fd = Attach();
    if (fd.valid()) (void)ioctl(fd.get(), TUNSETPERSIST, 0);
  }
  HostTap(const HostTap&) = delete;
  HostTap& operator=(const HostTap&) = delete;

  bool made() const { return made_; }
  const std::string& name() const { return name_; }

 private:
  ScopedFd Attach() const {
    ScopedFd fd(open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    if (!fd.valid()) return fd;
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, name_.data(), std::min(name_.size(), sizeof ifr.ifr_name - 1));
    ifr.ifr_flags = static_cast<short>(flags_ | IFF_NO_PI);
    if (ioctl(fd.get(), TUNSETIFF, &ifr) != 0) return ScopedFd();
    return fd;
  }

  std::string name_;
  short flags_;
  bool made_ = false;
};

}  // namespace vmmd::testing
