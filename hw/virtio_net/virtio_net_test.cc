// virtio-net behind the virtio-mmio transport, driven by the test driver, with a datagram
// socket pair standing in for the TAP: what the guest sends is read on the "host" end byte for
// byte, and frames the host writes arrive in the guest's buffers with the header the driver
// expects.
#include "hw/virtio_net/virtio_net.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "hw/virtio/virtio_mmio.h"
#include "tests/support/mmio.h"
#include "tests/support/status_matchers.h"
#include "tests/support/virtio_driver.h"

namespace vmmd::hw::virtio {
namespace {

using ::vmmd::testing::IsOk;
using ::vmmd::testing::MmioRead;
using ::vmmd::testing::StatusIs;
using ::vmmd::testing::TestVirtioDriver;
using Seg = TestVirtioDriver::Seg;

constexpr uint64_t kRamBase = 0x4000'0000;
constexpr uint64_t kRamSize = 16 << 20;
constexpr uint64_t kRings = kRamBase + 0x10'0000;
constexpr uint64_t kBuffers = kRamBase + 0x40'0000;
constexpr uint32_t kHdr = core::net::kVnetHeaderBytes;
constexpr MacAddress kMac = {0x02, 0x56, 0x4d, 0x00, 0x00, 0x01};

// The datagram end the device reads and writes, and what it was told about offloads.
class SocketPort : public core::net::PacketPort {
 public:
  SocketPort(ScopedFd fd, std::atomic<uint32_t>* offloads)
      : fd_(std::move(fd)), offloads_(offloads) {}
  int fd() const override { return fd_.get(); }
  absl::Status SetOffloads(uint32_t offloads) override {
    offloads_->store(offloads);
    return absl::OkStatus();
  }

 private:
  ScopedFd fd_;
  std::atomic<uint32_t>* offloads_;
};

std::vector<uint8_t> Frame(uint32_t payload, uint8_t seed) {
  std::vector<uint8_t> f(kHdr + payload, 0);
  for (uint32_t i = 0; i < payload; ++i) f[kHdr + i] = static_cast<uint8_t>(seed + i * 7);
  return f;
}

class VirtioNetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = core::GuestMemory::Create(kRamBase, kRamSize);
    ASSERT_THAT(m, IsOk());
    mem_ = *std::move(m);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    ScopedFd device_end(sv[0]);
    host_ = ScopedFd(sv[1]);
    int one = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &one, sizeof one);
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &one, sizeof one);
    ASSERT_EQ(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    timeval tv{.tv_sec = 5, .tv_usec = 0};
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto dev = VirtioNet::Create(std::make_unique<SocketPort>(std::move(device_end), &offloads_),
                                 mem_.get(), kMac);
    ASSERT_THAT(dev, IsOk());
    net_ = dev->get();
    auto rig = vmmd::testing::StartVirtioRig(
        *std::move(dev), *mem_, &irq_, {.base = 0x0a00'0000, .size = mmio::kWindowSize, .spi = 16},
        0, kRings, "net-test");
    ASSERT_THAT(rig, IsOk());
    transport_ = std::move(rig->transport);
    loop_ = std::move(rig->loop);
    driver_ = std::move(rig->driver);
  }
  void TearDown() override {
    if (loop_ != nullptr) loop_->Stop();
  }
  void Init(uint64_t features, uint16_t size = 256) {
    ASSERT_THAT(driver_->Init(kFeatureVersion1 | features, 2, size), IsOk());
  }
  // Posts `n` receive buffers of `len` bytes each (buffer i at kBuffers + i * 0x10000).
  void PostRx(int n, uint32_t len, int first = 0) {
    for (int i = first; i < first + n; ++i) {
      driver_->Submit(net::kRxQueue, {Seg{BufferGpa(i), len, true}});
    }
    driver_->Notify(net::kRxQueue);
  }
  static uint64_t BufferGpa(int i) { return kBuffers + 0x10000ULL * (i % 128); }
  void HostSend(const std::vector<uint8_t>& f) {
    ASSERT_EQ(send(host_.get(), f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
  }
  std::vector<uint8_t> HostReceive() {
    std::vector<uint8_t> buf(kHdr + net::kMaxFrame + 16);
    const ssize_t n = recv(host_.get(), buf.data(), buf.size(), 0);
    buf.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return buf;
  }
  std::vector<uint8_t> GuestBytes(uint64_t gpa, uint32_t len) {
    std::vector<uint8_t> out(len);
    EXPECT_THAT(mem_->Read(gpa, absl::MakeSpan(out)), IsOk());
    return out;
  }

  std::unique_ptr<core::GuestMemory> mem_;
  ScopedFd host_;
  std::atomic<uint32_t> offloads_{0xffff};
  VirtioNet* net_ = nullptr;
  vmmd::testing::RecordingIrq irq_;
  std::shared_ptr<VirtioMmio> transport_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<TestVirtioDriver> driver_;
};

TEST_F(VirtioNetTest, OffersTheOffloadsAndShowsTheMacWithTheLinkUp) {
  const uint64_t f = driver_->DeviceFeatures();
  for (uint64_t bit :
       {net::kFeatureCsum, net::kFeatureGuestCsum, net::kFeatureMac, net::kFeatureGuestTso4,
        net::kFeatureGuestTso6, net::kFeatureHostTso4, net::kFeatureHostTso6, net::kFeatureMrgRxbuf,
        net::kFeatureStatus, kFeatureVersion1}) {
    EXPECT_NE(f & bit, 0u) << bit;
  }
  EXPECT_EQ(driver_->Reg(mmio::kDeviceId), kDeviceNet);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(MmioRead(*transport_, mmio::kConfig + i, 1), kMac[i]) << i;
  }
  EXPECT_EQ(MmioRead(*transport_, mmio::kConfig + 6, 2), net::kStatusLinkUp);
  EXPECT_EQ(MmioRead(*transport_, mmio::kConfig + 8, 2), 0u);
}

TEST_F(VirtioNetTest, TheHostHandsTheGuestOnlyTheOffloadsItsDriverTook) {
  Init(net::kFeatureGuestCsum | net::kFeatureGuestTso4 | net::kFeatureGuestTso6 |
       net::kFeatureGuestEcn);
  EXPECT_EQ(offloads_.load(), core::net::kOffloadCsum | core::net::kOffloadTso4 |
                                  core::net::kOffloadTso6 | core::net::kOffloadTsoEcn);
  Init(net::kFeatureGuestTso4);  // TSO without checksum offload: neither
  EXPECT_EQ(offloads_.load(), 0u);
  Init(net::kFeatureGuestCsum);
  EXPECT_EQ(offloads_.load(), core::net::kOffloadCsum);
  driver_->SetReg(mmio::kStatus, 0);  // reset
  EXPECT_EQ(offloads_.load(), 0u);
}

TEST_F(VirtioNetTest, TransmitsEachChainAsOneFrameHeaderIncluded) {
  Init(net::kFeatureCsum | net::kFeatureHostTso4);
  std::vector<uint8_t> f = Frame(1500, 3);
  f[0] = 1;  // NEEDS_CSUM: the header goes to the host as the guest wrote it
  ASSERT_THAT(mem_->Write(kBuffers, absl::MakeConstSpan(f.data(), 100)), IsOk());
  ASSERT_THAT(mem_->Write(kBuffers + 0x8000, absl::MakeConstSpan(f.data() + 100, f.size() - 100)),
              IsOk());
  driver_->Submit(net::kTxQueue,
                  {Seg{kBuffers, 100, false},
                   Seg{kBuffers + 0x8000, static_cast<uint32_t>(f.size() - 100), false}});
  driver_->Notify(net::kTxQueue);
  EXPECT_EQ(HostReceive(), f);
  ASSERT_TRUE(driver_->WaitUsed(net::kTxQueue, 1));
  EXPECT_EQ(driver_->UsedElem(net::kTxQueue, 0).len, 0u);
  const VirtioNet::Stats s = net_->GetStats();
  EXPECT_EQ(s.tx_frames, 1u);
  EXPECT_EQ(s.tx_bytes, 1500u);
  EXPECT_EQ(s.tx_dropped, 0u);
}

TEST_F(VirtioNetTest, AChainThatIsNoFrameIsDroppedAndTheNextOneStillGoes) {
  Init(0);
  driver_->Submit(net::kTxQueue, {Seg{kBuffers, kHdr, false}});  // a header alone
  driver_->Submit(net::kTxQueue,                                 // longer than any frame
                  {Seg{kBuffers, kHdr + net::kMaxFrame + 1, false}});
  driver_->Submit(net::kTxQueue, {Seg{kBuffers, 64, true}});  // nothing readable
  const std::vector<uint8_t> f = Frame(60, 9);
  ASSERT_THAT(mem_->Write(kBuffers + 0x20'0000, f), IsOk());
  driver_->Submit(net::kTxQueue, {Seg{kBuffers + 0x20'0000, static_cast<uint32_t>(f.size())}});
  driver_->Notify(net::kTxQueue);
  EXPECT_EQ(HostReceive(), f);
  ASSERT_TRUE(driver_->WaitUsed(net::kTxQueue, 4));
  EXPECT_EQ(net_->GetStats().tx_dropped, 3u);
  EXPECT_EQ(net_->GetStats().tx_frames, 1u);
  EXPECT_EQ(driver_->Reg(mmio::kStatus) & mmio::kStatusNeedsReset, 0u);
}

TEST_F(VirtioNetTest, AFrameSpreadsOverMergeableBuffersWithTheirCountInTheHeader) {
  Init(net::kFeatureMrgRxbuf);
  PostRx(3, 2048);
  const std::vector<uint8_t> f = Frame(3000, 5);
  HostSend(f);
  ASSERT_TRUE(driver_->WaitUsed(net::kRxQueue, 2));
  EXPECT_EQ(driver_->UsedElem(net::kRxQueue, 0).id, 0u);
  EXPECT_EQ(driver_->UsedElem(net::kRxQueue, 0).len, 2048u);
  EXPECT_EQ(driver_->UsedElem(net::kRxQueue, 1).id, 1u);
  EXPECT_EQ(driver_->UsedElem(net::kRxQueue, 1).len, kHdr + 3000 - 2048);
  std::vector<uint8_t> got = GuestBytes(BufferGpa(0), 2048);
  const std::vector<uint8_t> rest = GuestBytes(BufferGpa(1), kHdr + 3000 - 2048);
  got.insert(got.end(), rest.begin(), rest.end());
  std::vector<uint8_t> want = f;
  want[10] = 2;  // num_buffers
  EXPECT_EQ(got, want);
  // The third buffer takes the next frame.
  HostSend(Frame(100, 1));
  ASSERT_TRUE(driver_->WaitUsed(net::kRxQueue, 3));
  EXPECT_EQ(driver_->UsedElem(net::kRxQueue, 2).len, kHdr + 100);
  EXPECT_EQ(GuestBytes(BufferGpa(2) + 10, 1)[0], 1u);
  const VirtioNet::Stats s = net_->GetStats();
  EXPECT_EQ(s.rx_frames, 2u);
  EXPECT_EQ(s.rx_bytes, 3100u);
  EXPECT_EQ(s.rx_dropped, 0u);
}

TEST_F(VirtioNetTest, AFrameWaitsForBuffersAndArrivesWhenTheDriverGivesThem) {
  Init(net::kFeatureMrgRxbuf);
  const std::vector<uint8_t> f = Frame(700, 2);
  HostSend(f);
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(driver_->UsedIndex(net::kRxQueue), 0u);
  PostRx(1, 512);  // not enough: the frame waits, holding it
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(driver_->UsedIndex(net::kRxQueue), 0u);
  PostRx(1, 512, 1);
  ASSERT_TRUE(driver_->WaitUsed(net::kRxQueue, 2));
  EXPECT_EQ(driver_->UsedElem(net::kRxQueue, 0).len, 512u);
  EXPECT_EQ(driver_->UsedElem(net::kRxQueue, 1).len, kHdr + 700 - 512);
  EXPECT_EQ(net_->GetStats().rx_frames, 1u);
}

TEST_F(VirtioNetTest, WithoutMergeableBuffersAFrameTooLargeForItsBufferIsDropped) {
  Init(0);
  PostRx(1, 1024);
  HostSend(Frame(2000, 1));  // dropped: the buffer stays for the next
  const std::vector<uint8_t> small = Frame(200, 4);
  HostSend(small);
  ASSERT_TRUE(driver_->WaitUsed(net::kRxQueue, 1));
  EXPECT_EQ(driver_->UsedElem(net::kRxQueue, 0).len, kHdr + 200);
  std::vector<uint8_t> want = small;
  want[10] = 1;
  EXPECT_EQ(GuestBytes(BufferGpa(0), kHdr + 200), want);
  EXPECT_EQ(net_->GetStats().rx_dropped, 1u);
  EXPECT_EQ(net_->GetStats().rx_frames, 1u);
}

TEST_F(VirtioNetTest, ABufferTooSmallForTheHeaderGoesBackEmpty) {
  Init(net::kFeatureMrgRxbuf);
  PostRx(1, 4);
  PostRx(1, 4096, 1);
  HostSend(Frame(64, 1));
  ASSERT_TRUE(driver_->WaitUsed(net::kRxQueue, 2));
  EXPECT_EQ(driver_->UsedElem(net::kRxQueue, 0).id, 0u);
  EXPECT_EQ(driver_->UsedElem(net::kRxQueue, 0).len, 0u);
  EXPECT_EQ(driver_->UsedElem(net::kRxQueue, 1).id, 1u);
  EXPECT_EQ(driver_->UsedElem(net::kRxQueue, 1).len, kHdr + 64);
}

TEST_F(VirtioNetTest, MoreFramesThanOneRoundTakesAllArrive) {
  Init(net::kFeatureMrgRxbuf, 256);
  const int frames = net::kFramesPerRound + 40;
  for (int i = 0; i < frames; ++i) HostSend(Frame(60, static_cast<uint8_t>(i)));
  PostRx(200, 2048);
  ASSERT_TRUE(driver_->WaitUsed(net::kRxQueue, 200));
  PostRx(frames - 200, 2048, 200);
  ASSERT_TRUE(driver_->WaitUsed(net::kRxQueue, static_cast<uint16_t>(frames)));
  EXPECT_EQ(net_->GetStats().rx_frames, static_cast<uint64_t>(frames));
  // In order: frame i in buffer i.
  EXPECT_EQ(GuestBytes(BufferGpa(frames - 1) + kHdr, 1)[0], static_cast<uint8_t>(frames - 1));
}

}  // namespace
}  // namespace vmmd::hw::virtio
