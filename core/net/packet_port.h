// Where a virtio-net device sends and receives its guest's Ethernet frames on the host: a
// descriptor that carries one frame per read and per write, each preceded by the 12-byte
// virtio-net header (struct virtio_net_hdr_v1: offload flags, GSO type and size, checksum
// position, number of buffers), non-blocking. A TAP interface (tap.h) is one; the device's
// tests use a datagram socket pair.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace vmmd::core::net {

// Size of the header in front of every frame (virtio 1.x: virtio_net_hdr_v1).
inline constexpr uint32_t kVnetHeaderBytes = 12;

// What the guest can take in frames the host sends it (TUN_F_* of <linux/if_tun.h>).
inline constexpr uint32_t kOffloadCsum = 0x01;    // partial checksums (the guest completes them)
inline constexpr uint32_t kOffloadTso4 = 0x02;    // TCP/IPv4 segments up to 64 KiB
inline constexpr uint32_t kOffloadTso6 = 0x04;    // TCP/IPv6 segments
inline constexpr uint32_t kOffloadTsoEcn = 0x08;  // ... with ECN

class PacketPort {
 public:
  virtual ~PacketPort() = default;
  // One frame per read()/write(), header first; O_NONBLOCK (reads end with EAGAIN).
  virtual int fd() const = 0;
  // From now on, frames read may use these offloads (kOffload*; 0: only whole, checksummed
  // frames of at most the interface's MTU).
  virtual absl::Status SetOffloads(uint32_t offloads) = 0;
};

}  // namespace vmmd::core::net
