// virtio-net (Virtio 1.2, section 5.1) over a host packet port (core/net: a TAP): one receive
// and one transmit queue, the guest's MAC address and link status in the configuration space,
// and the offloads Linux needs for throughput: checksums and TCP segmentation both ways
// (HOST_TSO*: the guest sends segments of up to 64 KiB that the host kernel cuts; GUEST_TSO*:
// the host hands the guest such segments) and mergeable receive buffers, so a 64 KiB segment
// lands in as many of the guest's page-sized buffers as it needs. The virtio-net header rides
// in front of every frame on the TAP too (IFF_VNET_HDR), so offloads pass through unconverted.
// No control queue: nothing to filter on a TAP.
//
// Receive: frames are read from the port into one bounce buffer and copied into the guest's
// buffers (only whole frames: one that does not fit in what the driver gave waits until it
// has given more; without mergeable buffers, a frame larger than one buffer is dropped).
// Transmit: each chain is written to the port straight from guest RAM (writev).
//
// The guest is hostile: a transmit chain shorter than the header or longer than the largest
// frame is dropped and counted; a receive chain without room for the header is returned empty;
// what the host kernel refuses (a header that lies) is a dropped frame. Nothing stops the
// device but a broken queue.
//
// Threading: as every device (virtio_device.h): the transport's lock is held; Activate and
// Reset run on vCPU threads (they set the port's offloads), Process on the I/O thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/common/event_fd.h"
#include "core/memory/guest_memory.h"
#include "core/net/packet_port.h"
#include "hw/virtio/virtio_device.h"

namespace vmmd::hw::virtio {

namespace net {
// Feature bits (section 5.1.3).
inline constexpr uint64_t kFeatureCsum = 1ULL << 0;
inline constexpr uint64_t kFeatureGuestCsum = 1ULL << 1;
inline constexpr uint64_t kFeatureMac = 1ULL << 5;
inline constexpr uint64_t kFeatureGuestTso4 = 1ULL << 7;
inline constexpr uint64_t kFeatureGuestTso6 = 1ULL << 8;
inline constexpr uint64_t kFeatureGuestEcn = 1ULL << 9;
inline constexpr uint64_t kFeatureHostTso4 = 1ULL << 11;
inline constexpr uint64_t kFeatureHostTso6 = 1ULL << 12;
inline constexpr uint64_t kFeatureHostEcn = 1ULL << 13;
inline constexpr uint64_t kFeatureMrgRxbuf = 1ULL << 15;
inline constexpr uint64_t kFeatureStatus = 1ULL << 16;

inline constexpr uint16_t kStatusLinkUp = 1;
inline constexpr uint16_t kRxQueue = 0;
inline constexpr uint16_t kTxQueue = 1;
inline constexpr uint16_t kQueueSize = 256;
// The largest frame either way, header aside: a 64 KiB IP packet with an Ethernet and a VLAN
// header.
inline constexpr uint32_t kMaxFrame = 65535 + 14 + 4;
// Frames taken per Process call before the queue yields to the others.
inline constexpr int kFramesPerRound = 256;
}  // namespace net

using MacAddress = std::array<uint8_t, 6>;

class VirtioNet : public VirtioDevice {
 public:
  struct Stats {
    uint64_t rx_frames = 0;  // to the guest
    uint64_t rx_bytes = 0;   // frame bytes, headers not counted
    uint64_t tx_frames = 0;  // from the guest
    uint64_t tx_bytes = 0;
    uint64_t rx_dropped = 0;  // frames the guest had no room for, or the port gave broken
    uint64_t tx_dropped = 0;  // frames the guest sent malformed or the host refused
  };

  static absl::StatusOr<std::unique_ptr<VirtioNet>> Create(
      std::unique_ptr<core::net::PacketPort> port, const core::GuestMemory* memory, MacAddress mac);

  uint32_t device_type() const override { return kDeviceNet; }
  uint64_t features() const override;
  uint16_t queue_count() const override { return 2; }
  uint16_t queue_max_size() const override { return net::kQueueSize; }
  void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const override;
  void WriteConfig(uint64_t, absl::Span<const uint8_t>) override {}  // nothing writable
  absl::Status Activate(uint64_t features) override;
  absl::Status Process(uint16_t index, Virtqueue& queue) override;
  void Reset() override;
  std::vector<BackendEvent> BackendEvents() const override;

  Stats GetStats() const;

 private:
  VirtioNet(std::unique_ptr<core::net::PacketPort> port, const core::GuestMemory* memory,
            MacAddress mac, EventFd again);
  absl::Status Receive(Virtqueue& queue);
  absl::Status Transmit(Virtqueue& queue);
  // Places the frame in frame_ (pending_ bytes with its header) into buffers the driver gave;
  // false when it needs more than there are (it stays pending).
  absl::StatusOr<bool> Place(Virtqueue& queue);

  const std::unique_ptr<core::net::PacketPort> port_;
  const core::GuestMemory* const memory_;
  const MacAddress mac_;
  // Signalled when Receive stopped with frames perhaps left on the port (its round was used
  // up): the edge-triggered port would not wake the I/O thread for those again.
  const EventFd again_;
  bool mergeable_ = false;        // VIRTIO_NET_F_MRG_RXBUF negotiated
  std::vector<uint8_t> frame_;    // the receive bounce buffer: header + frame
  uint32_t pending_ = 0;          // bytes of frame_ read and not yet given to the guest
  std::deque<Chain> rx_buffers_;  // receive chains taken and not yet returned
  std::atomic<uint64_t> rx_frames_{0}, rx_bytes_{0}, tx_frames_{0}, tx_bytes_{0}, rx_dropped_{0},
      tx_dropped_{0};
};

}  // namespace vmmd::hw::virtio
