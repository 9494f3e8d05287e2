#include "hw/virtio_net/virtio_net.h"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "core/common/log.h"
#include "core/common/status_macros.h"
#include "hw/virtio/segment_io.h"

namespace vmmd::hw::virtio {

using namespace net;  // NOLINT(build/namespaces): the constants above
using core::net::kVnetHeaderBytes;

namespace {

// Where num_buffers sits in virtio_net_hdr_v1.
constexpr size_t kNumBuffersOffset = 10;

}  // namespace

absl::StatusOr<std::unique_ptr<VirtioNet>> VirtioNet::Create(
    std::unique_ptr<core::net::PacketPort> port, const core::GuestMemory* memory, MacAddress mac) {
  if (port == nullptr || port->fd() < 0 || memory == nullptr) {
    return absl::InvalidArgumentError("virtio-net needs a packet port and guest memory");
  }
  if ((mac[0] & 1) != 0) {
    return absl::InvalidArgumentError("a NIC's MAC address must be unicast (first octet even)");
  }
  VMMD_ASSIGN_OR_RETURN(EventFd again, EventFd::Create());
  return std::unique_ptr<VirtioNet>(new VirtioNet(std::move(port), memory, mac, std::move(again)));
}

VirtioNet::VirtioNet(std::unique_ptr<core::net::PacketPort> port, const core::GuestMemory* memory,
                     MacAddress mac, EventFd again)
    : port_(std::move(port)),
      memory_(memory),
      mac_(mac),
      again_(std::move(again)),
      frame_(kVnetHeaderBytes + kMaxFrame) {}

uint64_t VirtioNet::features() const {
  return kFeatureCsum | kFeatureGuestCsum | kFeatureMac | kFeatureGuestTso4 | kFeatureGuestTso6 |
         kFeatureGuestEcn | kFeatureHostTso4 | kFeatureHostTso6 | kFeatureHostEcn |
         kFeatureMrgRxbuf | kFeatureStatus;
}

void VirtioNet::ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const {
  // struct virtio_net_config: mac[6], status (le16), max_virtqueue_pairs (le16, without MQ 0).
  uint8_t config[10] = {};
  std::memcpy(config, mac_.data(), mac_.size());
  config[6] = kStatusLinkUp & 0xff;
  config[7] = kStatusLinkUp >> 8;
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = offset + i < sizeof config ? config[offset + i] : 0;
  }
}

absl::Status VirtioNet::Activate(uint64_t features) {
  mergeable_ = (features & kFeatureMrgRxbuf) != 0;
  // The host may hand the guest only what its driver said it can take (TSO needs checksum
  // offload too).
  uint32_t offloads = 0;
  if ((features & kFeatureGuestCsum) != 0) {
    offloads |= core::net::kOffloadCsum;
    if ((features & kFeatureGuestTso4) != 0) offloads |= core::net::kOffloadTso4;
    if ((features & kFeatureGuestTso6) != 0) offloads |= core::net::kOffloadTso6;
    if ((features & kFeatureGuestEcn) != 0 &&
        (offloads & (core::net::kOffloadTso4 | core::net::kOffloadTso6)) != 0) {
      offloads |= core::net::kOffloadTsoEcn;
    }
  }
  return port_->SetOffloads(offloads);
}

void VirtioNet::Reset() {
  mergeable_ = false;
  pending_ = 0;
  rx_buffers_.clear();  // the driver's reset took them back
  if (absl::Status s = port_->SetOffloads(0); !s.ok()) {
    LogWarning("virtio-net: resetting the port's offloads: %s", s.ToString());
  }
}

std::vector<VirtioDevice::BackendEvent> VirtioNet::BackendEvents() const {
  return {{.fd = port_->fd(), .queue = kRxQueue}, {.fd = again_.fd(), .queue = kRxQueue}};
}

absl::Status VirtioNet::Process(uint16_t index, Virtqueue& queue) {
  if (index == kRxQueue) return Receive(queue);
  if (index == kTxQueue) return Transmit(queue);
  return absl::OkStatus();
}

absl::Status VirtioNet::Receive(Virtqueue& queue) {
  again_.Drain();
  for (int n = 0; n < kFramesPerRound; ++n) {
    if (pending_ == 0) {
      // Read a frame only when the driver has given somewhere to put it.
      if (rx_buffers_.empty()) {
        VMMD_ASSIGN_OR_RETURN(const bool room, queue.HasAvailable());
        if (!room) return absl::OkStatus();
      }
      ssize_t got;
      do {
        got = read(port_->fd(), frame_.data(), frame_.size());
      } while (got < 0 && errno == EINTR);
      if (got < 0) return absl::OkStatus();  // EAGAIN: nothing more (anything else: the same)
      if (static_cast<size_t>(got) <= kVnetHeaderBytes) {
        rx_dropped_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      pending_ = static_cast<uint32_t>(got);
    }
    VMMD_ASSIGN_OR_RETURN(const bool placed, Place(queue));
    if (!placed) return absl::OkStatus();  // the driver's next notification brings room
  }
  again_.Signal();
  return absl::OkStatus();
}

absl::StatusOr<bool> VirtioNet::Place(Virtqueue& queue) {
  const uint32_t need = pending_;
  // Take buffers until they hold the frame (one buffer without mergeable buffers). A buffer
  // that cannot even hold the header goes back empty.
  uint64_t room = 0;
  size_t count = 0;
  while (room < need && (mergeable_ || count == 0)) {
    if (count == rx_buffers_.size()) {
      VMMD_ASSIGN_OR_RETURN(std::optional<Chain> chain, queue.Pop());
      if (!chain.has_value()) {
        // Every buffer the queue can hold is ours and still too small: the frame goes.
        if (rx_buffers_.size() >= queue.config().size) {
          rx_dropped_.fetch_add(1, std::memory_order_relaxed);
          pending_ = 0;
          return true;
        }
        return false;
      }
      if (chain->writable_bytes < kVnetHeaderBytes) {
        VMMD_RETURN_IF_ERROR(queue.PushUsed(chain->head, 0));
        continue;
      }
      rx_buffers_.push_back(*std::move(chain));
    }
    room += rx_buffers_[count].writable_bytes;
    ++count;
  }
  if (room < need) {  // one buffer (no mergeable buffers) too small: the frame goes
    rx_dropped_.fetch_add(1, std::memory_order_relaxed);
    pending_ = 0;
    return true;
  }
  frame_[kNumBuffersOffset] = static_cast<uint8_t>(count & 0xff);
  frame_[kNumBuffersOffset + 1] = static_cast<uint8_t>(count >> 8);
  uint32_t at = 0;
  for (size_t i = 0; i < count; ++i) {
    const Chain& c = rx_buffers_.front();
    const uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(c.writable_bytes, need - at));
    if (!ScatterSegments(*memory_, c.writable, absl::MakeConstSpan(frame_.data() + at, len))) {
      return absl::DataLossError("a receive buffer is no longer in guest RAM");
    }
    // All of a frame's buffers reach the driver together: it reads num_buffers used elements
    // as soon as it sees the first, and drops the frame if they are not all there.
    VMMD_RETURN_IF_ERROR(queue.PushUsed(c.head, len, /*publish=*/i + 1 == count));
    at += len;
    rx_buffers_.pop_front();
  }
  rx_frames_.fetch_add(1, std::memory_order_relaxed);
  rx_bytes_.fetch_add(need - kVnetHeaderBytes, std::memory_order_relaxed);
  pending_ = 0;
  return true;
}

absl::Status VirtioNet::Transmit(Virtqueue& queue) {
  std::vector<iovec> iov;
  for (int n = 0; n < kFramesPerRound; ++n) {
    VMMD_ASSIGN_OR_RETURN(std::optional<Chain> chain, queue.Pop());
    if (!chain.has_value()) return absl::OkStatus();
    const uint64_t bytes = chain->readable_bytes;
    bool sent = false;
    if (bytes > kVnetHeaderBytes && bytes <= kVnetHeaderBytes + kMaxFrame) {
      if (!SliceSegments(*memory_, chain->readable, 0, bytes, &iov)) {
        return absl::DataLossError("a transmit buffer is no longer in guest RAM");
      }
      if (iov.size() <= IOV_MAX) {
        ssize_t put;
        do {
          put = writev(port_->fd(), iov.data(), static_cast<int>(iov.size()));
        } while (put < 0 && errno == EINTR);
        // A TAP takes a frame whole or refuses it (a lying header, the interface down).
        sent = put == static_cast<ssize_t>(bytes);
      }
    }
    if (sent) {
      tx_frames_.fetch_add(1, std::memory_order_relaxed);
      tx_bytes_.fetch_add(bytes - kVnetHeaderBytes, std::memory_order_relaxed);
    } else {
      tx_dropped_.fetch_add(1, std::memory_order_relaxed);
    }
    VMMD_RETURN_IF_ERROR(queue.PushUsed(chain->head, 0));
  }
  return absl::OkStatus();
}

VirtioNet::Stats VirtioNet::GetStats() const {
  return {.rx_frames = rx_frames_.load(std::memory_order_relaxed),
          .rx_bytes = rx_bytes_.load(std::memory_order_relaxed),
          .tx_frames = tx_frames_.load(std::memory_order_relaxed),
          .tx_bytes = tx_bytes_.load(std::memory_order_relaxed),
          .rx_dropped = rx_dropped_.load(std::memory_order_relaxed),
          .tx_dropped = tx_dropped_.load(std::memory_order_relaxed)};
}

}  // namespace vmmd::hw::virtio
