// A host TAP interface as a virtio-net device's packet port: vmmd attaches to a TAP that the
// host's network set-up created (`ip tuntap add NAME mode tap [user U]`), never creates one, and
// reads and writes the guest's frames on it with the virtio-net header (IFF_VNET_HDR), so
// checksum and segmentation offloads pass between the guest and the host kernel untouched.
//
// Attaching needs /dev/net/tun and either CAP_NET_ADMIN or a TAP created for vmmd's user. A
// single-queue TAP takes one reader: while a VM uses it, no other VM or process can attach.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/common/scoped_fd.h"
#include "core/net/packet_port.h"

namespace vmmd::core::net {

class Tap : public PacketPort {
 public:
  // Attaches to the TAP interface `name`: INVALID_ARGUMENT for a name that is empty, longer than
  // IFNAMSIZ - 1 or holds '/' or whitespace, or an interface that is not a single-queue TAP;
  // NOT_FOUND when there is no such interface; FAILED_PRECONDITION when another process or VM
  // is attached to it, or this host has no /dev/net/tun; PERMISSION_DENIED when vmmd may not
  // attach to it.
  static absl::StatusOr<std::unique_ptr<Tap>> Open(absl::string_view name);

  int fd() const override { return fd_.get(); }
  absl::Status SetOffloads(uint32_t offloads) override;
  const std::string& name() const { return name_; }

 private:
  Tap(ScopedFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}

  ScopedFd fd_;
  std::string name_;
};

// Checks a TAP name as Open does, without touching the host (INVALID_ARGUMENT naming `field`).
absl::Status CheckTapName(absl::string_view name, absl::string_view field);

// The ioctls a thread that (re)activates a virtio-net device makes on its TAP (SetOffloads):
// vCPU threads, when the guest's driver sets DRIVER_OK or resets the device (vmmd/sandbox).
std::vector<unsigned long> TapActivationIoctls();

}  // namespace vmmd::core::net
