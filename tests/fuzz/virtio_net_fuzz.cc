// A hostile driver against virtio-net behind the virtio-mmio transport, with a hostile host on
// the other side: register accesses (any offset and width in and around the window), writes into
// guest RAM (rings, descriptors, receive buffers, frames to send), both queues served on the
// calling thread, and frames of any size the host sends. The device's packet port is one end of
// a datagram socket pair (as in virtio_net_test.cc); the fuzzer holds the other end, the "host".
// Input: a stream of operations, each one byte:
//   op % 6 == 0: a register access (fuzz_input.h's Access; op bit 0 = write)
//   op % 6 == 1: write up to 64 input bytes at an input offset of the 64 KiB of RAM
//   op % 6 == 2: serve queue 0 (receive: what a notification or a readable port does)
//   op % 6 == 3: serve queue 1 (transmit)
//   op % 6 == 4: the host sends a frame: kind (u8), n (u16), then per kind % 16
//                  0: a datagram shorter than the header (n % 12 input bytes)
//                  1: a 12-byte header from the input and a large payload filled with a
//                     pattern, 32 KiB up to a little beyond the largest frame (mergeable buffers)
//                  else: a 12-byte header and n % 2001 payload bytes, both from the input
//   op % 6 == 5: a correct driver's set-up (features VERSION_1, MRG_RXBUF, CSUM, GUEST_CSUM,
//                EVENT_IDX, INDIRECT_DESC; two 16-entry queues: receive with descriptors at
//                RAM+0, available ring at +0x1000, used ring at +0x2000; transmit at +0x3000,
//                +0x4000, +0x5000; DRIVER_OK), so the fuzzer reaches an active device easily
// After each operation the host end is drained. Invariants: nothing outside guest RAM is touched
// (ASan); every frame the device transmits is at least the header and at most header + the
// largest frame, and the host gets exactly the frames the device counts as sent; an inactive
// device never moves either used index; status never reports DRIVER_OK together with a refused
// FEATURES_OK.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/common/scoped_fd.h"
#include "core/net/packet_port.h"
#include "hw/virtio/virtio_mmio.h"
#include "hw/virtio_net/virtio_net.h"
#include "tests/fuzz/fuzz_input.h"

namespace vmmd::fuzz {
namespace {

namespace v = hw::virtio;
constexpr uint64_t kBase = 0x4000'0000;
constexpr uint64_t kRam = 64 * 1024;
constexpr uint32_t kHdr = core::net::kVnetHeaderBytes;
constexpr uint64_t kRxUsed = kBase + 0x2000;
constexpr uint64_t kTxUsed = kBase + 0x5000;
constexpr v::MacAddress kMac = {0x02, 0x56, 0x4d, 0x00, 0x00, 0x01};
// The host end's receive buffer: room for more than any frame the device may send, so that a
// longer one would show (recv reports a datagram's real length with MSG_TRUNC).
constexpr size_t kHostBuffer = kHdr + v::net::kMaxFrame + 64;

class NoIrq : public core::IrqLine {
 public:
  void SetLevel(bool) override {}
};

// The device's end of the socket pair; offloads are only recorded.
class SocketPort : public core::net::PacketPort {
 public:
  explicit SocketPort(ScopedFd fd) : fd_(std::move(fd)) {}
  int fd() const override { return fd_.get(); }
  absl::Status SetOffloads(uint32_t offloads) override {
    offloads_ = offloads;
    return absl::OkStatus();
  }

 private:
  ScopedFd fd_;
  uint32_t offloads_ = 0;
};

void Reg(v::VirtioMmio& t, uint64_t offset, uint32_t value) { DeviceWrite(t, offset, 4, value); }

void SetUpQueue(v::VirtioMmio& t, uint32_t index, uint64_t rings) {
  namespace m = v::mmio;
  Reg(t, m::kQueueSel, index);
  Reg(t, m::kQueueNum, 16);
  Reg(t, m::kQueueDescLow, static_cast<uint32_t>(rings));
  Reg(t, m::kQueueDescHigh, 0);
  Reg(t, m::kQueueDriverLow, static_cast<uint32_t>(rings + 0x1000));
  Reg(t, m::kQueueDriverHigh, 0);
  Reg(t, m::kQueueDeviceLow, static_cast<uint32_t>(rings + 0x2000));
  Reg(t, m::kQueueDeviceHigh, 0);
  Reg(t, m::kQueueReady, 1);
}

void SetUp(v::VirtioMmio& t) {
  namespace m = v::mmio;
  const uint64_t features = v::kFeatureVersion1 | v::net::kFeatureMrgRxbuf | v::net::kFeatureCsum |
                            v::net::kFeatureGuestCsum | v::kFeatureEventIdx |
                            v::kFeatureIndirectDesc;
  Reg(t, m::kStatus, 0);
  Reg(t, m::kStatus, 3);
  Reg(t, m::kDriverFeaturesSel, 0);
  Reg(t, m::kDriverFeatures, static_cast<uint32_t>(features));
  Reg(t, m::kDriverFeaturesSel, 1);
  Reg(t, m::kDriverFeatures, static_cast<uint32_t>(features >> 32));
  Reg(t, m::kStatus, 11);
  SetUpQueue(t, v::net::kRxQueue, kBase);
  SetUpQueue(t, v::net::kTxQueue, kBase + 0x3000);
  Reg(t, m::kStatus, 15);
}

// The host sends one datagram (op 4). A full socket buffer refuses it: the frame is lost, as
// on a congested TAP.
void HostSend(int host, FuzzReader& in, std::vector<uint8_t>& frame) {
  const uint8_t kind = in.U8();
  const uint16_t n = in.U16();
  frame.clear();
  if (kind % 16 == 0) {
    absl::Span<const uint8_t> bytes = in.Take(n % kHdr);
    frame.assign(bytes.begin(), bytes.end());
  } else {
    absl::Span<const uint8_t> header = in.Take(kHdr);
    frame.assign(header.begin(), header.end());
    frame.resize(kHdr, 0);
    if (kind % 16 == 1) {
      const size_t payload = 0x8000 + n % (v::net::kMaxFrame + 9 - 0x8000);
      frame.resize(kHdr + payload);
      for (size_t i = 0; i < payload; ++i) frame[kHdr + i] = static_cast<uint8_t>(kind + i * 7);
    } else {
      absl::Span<const uint8_t> payload = in.Take(n % 2001);
      frame.insert(frame.end(), payload.begin(), payload.end());
    }
  }
  (void)send(host, frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

// Receives every frame the device has sent; each must be a frame. Returns how many.
uint64_t HostDrain(int host, std::vector<uint8_t>& buffer) {
  uint64_t frames = 0;
  for (;;) {
    const ssize_t n = recv(host, buffer.data(), buffer.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      FUZZ_CHECK(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR,
                 std::string("recv on the host end: ") + std::strerror(errno));
      if (errno == EINTR) continue;
      return frames;
    }
    FUZZ_CHECK(static_cast<size_t>(n) >= kHdr,
               "the device transmitted " + std::to_string(n) + " bytes, less than a header");
    FUZZ_CHECK(static_cast<size_t>(n) <= kHdr + v::net::kMaxFrame,
               "the device transmitted " + std::to_string(n) + " bytes, more than a frame");
    ++frames;
  }
}

void Run(const uint8_t* data, size_t size) {
  static std::unique_ptr<core::GuestMemory> memory = [] {
    auto m = core::GuestMemory::Create(kBase, kRam);
    return m.ok() ? *std::move(m) : nullptr;
  }();
  FUZZ_CHECK(memory != nullptr, "guest RAM");
  static std::vector<uint8_t> host_buffer(kHostBuffer);
  static std::vector<uint8_t> frame;
  auto* ram = static_cast<uint8_t*>(memory->host_base());
  std::fill(ram, ram + kRam, 0);

  int sv[2];
  FUZZ_CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0,
             std::string("socketpair: ") + std::strerror(errno));
  ScopedFd device_end(sv[0]);
  ScopedFd host(sv[1]);
  const int sndbuf = 1 << 20;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  auto created =
      v::VirtioNet::Create(std::make_unique<SocketPort>(std::move(device_end)), memory.get(), kMac);
  FUZZ_CHECK(created.ok(), created.status().ToString());
  const v::VirtioNet& net = **created;
  NoIrq irq;
  auto transport = v::VirtioMmio::Create(*std::move(created), memory.get(), &irq,
                                         {.base = 0x0a00'0000, .size = 0x200, .spi = 16}, 0);
  FUZZ_CHECK(transport.ok(), transport.status().ToString());
  v::VirtioMmio& t = **transport;

  uint64_t host_frames = 0;  // frames the host end received
  FuzzReader in(data, size);
  for (int ops = 0; ops < 512 && !in.empty(); ++ops) {
    const uint8_t op = in.U8();
    switch (op % 6) {
      case 0:
        AnyAccess(in, t, v::mmio::kWindowSize);
        break;
      case 1:
        PokeRam(in, ram, kRam);
        break;
      case 2:
      case 3: {
        const uint32_t status = static_cast<uint32_t>(DeviceRead(t, v::mmio::kStatus, 4));
        const uint16_t rx_used = *memory->ReadObj<uint16_t>(kRxUsed + 2);
        const uint16_t tx_used = *memory->ReadObj<uint16_t>(kTxUsed + 2);
        t.ServeQueue(op % 6 == 2 ? v::net::kRxQueue : v::net::kTxQueue);
        const bool active =
            (status & v::mmio::kStatusDriverOk) != 0 && (status & v::mmio::kStatusNeedsReset) == 0;
        if (!active) {
          FUZZ_CHECK(*memory->ReadObj<uint16_t>(kRxUsed + 2) == rx_used &&
                         *memory->ReadObj<uint16_t>(kTxUsed + 2) == tx_used,
                     "an inactive device returned buffers");
        }
        break;
      }
      case 4:
        HostSend(host.get(), in, frame);
        break;
      case 5:
        SetUp(t);
        break;
    }
    host_frames += HostDrain(host.get(), host_buffer);
    FUZZ_CHECK(host_frames == net.GetStats().tx_frames,
               "the host received " + std::to_string(host_frames) + " frames, the device sent " +
                   std::to_string(net.GetStats().tx_frames));
    const uint32_t status = static_cast<uint32_t>(DeviceRead(t, v::mmio::kStatus, 4));
    if ((status & v::mmio::kStatusDriverOk) != 0) {
      FUZZ_CHECK(
          (status & v::mmio::kStatusFeaturesOk) != 0 || (status & v::mmio::kStatusNeedsReset) != 0,
          "DRIVER_OK without FEATURES_OK");
    }
  }
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmmd::fuzz::Run(data, size);
  return 0;
}
