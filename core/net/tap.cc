#include "core/net/tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/common/errno_status.h"

namespace vmmd::core::net {
namespace {

static_assert(kOffloadCsum == TUN_F_CSUM && kOffloadTso4 == TUN_F_TSO4 &&
              kOffloadTso6 == TUN_F_TSO6 && kOffloadTsoEcn == TUN_F_TSO_ECN);

}  // namespace

absl::Status CheckTapName(absl::string_view name, absl::string_view field) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s is empty: name a TAP interface", field));
  }
  if (name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s \"%s\" is %u characters; an interface name has at most %u", field, name,
                        name.size(), IFNAMSIZ - 1));
  }
  for (char c : name) {
    if (c == '/' || c == ':' || absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        !absl::ascii_isprint(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s \"%s\" is not an interface name (no '/', ':', spaces or control characters)", field,
          absl::CHexEscape(name)));
    }
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s \"%s\" is not an interface name", field, name));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Tap>> Tap::Open(absl::string_view name) {
  if (absl::Status s = CheckTapName(name, "the TAP name"); !s.ok()) return s;
  const std::string n(name);
  // TUNSETIFF creates a missing interface (given CAP_NET_ADMIN): look first, so a typo is an
  // error, not a new interface nobody routes. Through sysfs, not if_nametoindex: that needs a
  // socket, which a VM's controller thread may not open (vmmd/sandbox).
  if (access("/sys/class/net", F_OK) == 0 &&
      access(absl::StrCat("/sys/class/net/", n).c_str(), F_OK) != 0) {
    return absl::NotFoundError(absl::StrFormat(
        "the host has no network interface \"%s\": create the TAP first (ip tuntap add %s mode "
        "tap), then bring it up",
        n, n));
  }
  ScopedFd fd(open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    if (err == ENOENT || err == ENODEV || err == ENXIO) {
      return absl::FailedPreconditionError(
          "this host has no /dev/net/tun (load the tun module; in a container, pass the device)");
    }
    return ErrnoStatus(err, "open /dev/net/tun");
  }
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, n.data(), n.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(fd.get(), TUNSETIFF, &ifr) != 0) {
    const int err = errno;
    switch (err) {
      case EBUSY:
        return absl::FailedPreconditionError(absl::StrFormat(
            "TAP \"%s\" is in use: another VM or process is attached to it; give each VM its own "
            "TAP",
            n));
      case EINVAL:
        return absl::InvalidArgumentError(absl::StrFormat(
            "\"%s\" is not a single-queue TAP interface (a TUN, a multi-queue TAP or not a "
            "tun/tap device at all)",
            n));
      case EPERM:
      case EACCES:
        return absl::PermissionDeniedError(absl::StrFormat(
            "vmmd may not attach to TAP \"%s\": create it for vmmd's user (ip tuntap add %s mode "
            "tap user <uid>) or give vmmd CAP_NET_ADMIN",
            n, n));
      default:
        return ErrnoStatus(err, absl::StrFormat("TUNSETIFF %s", n));
    }
  }
  // Deleted between the look and the attach: the attach made a new one, which goes again when
  // this descriptor closes.
  ifreq got{};
  if (ioctl(fd.get(), TUNGETIFF, &got) != 0) return ErrnoStatus(errno, "TUNGETIFF");
  if ((got.ifr_flags & IFF_PERSIST) == 0) {
    return absl::NotFoundError(
        absl::StrFormat("network interface \"%s\" went away while vmmd attached to it", n));
  }
  int header = kVnetHeaderBytes;
  if (ioctl(fd.get(), TUNSETVNETHDRSZ, &header) != 0) {
    return ErrnoStatus(errno, "TUNSETVNETHDRSZ");
  }
  std::unique_ptr<Tap> tap(new Tap(std::move(fd), n));
  if (absl::Status s = tap->SetOffloads(0); !s.ok()) return s;
  return tap;
}

absl::Status Tap::SetOffloads(uint32_t offloads) {
  if (ioctl(fd_.get(), TUNSETOFFLOAD, static_cast<unsigned long>(offloads)) != 0) {
    return ErrnoStatus(errno, absl::StrFormat("TUNSETOFFLOAD 0x%x on %s", offloads, name_));
  }
  return absl::OkStatus();
}

std::vector<unsigned long> TapActivationIoctls() { return {TUNSETOFFLOAD}; }

}  // namespace vmmd::core::net
