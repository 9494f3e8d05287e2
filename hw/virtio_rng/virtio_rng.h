// virtio-rng, the entropy device (Virtio 1.2, section 5.4): one request queue (requestq), no
// device features, no configuration space. The driver makes device-writable buffers available;
// the device fills them with random bytes from the host kernel (getrandom(2), flags 0: the
// kernel's CSPRNG, the same source as /dev/urandom) and returns each with the count written.
//
// Never blocking: getrandom with flags 0 blocks only until the host kernel's random pool is
// initialized, once per boot. Create checks that it is (a non-blocking read of one byte), so on
// the I/O thread it never blocks; an interrupted or short read is resumed.
//
// The guest is hostile: a chain is served at most rng::kMaxChainBytes (the first bytes of its
// writable segments, in order; the spec lets the device use less than the buffer) and its used
// length says exactly how many. A chain without a writable byte is returned with 0 bytes and
// counted as an error; readable segments are ignored. One Process call takes no chain once it
// has served rng::kMaxProcessBytes (so it serves less than that plus one chain's cap) or
// rng::kMaxProcessChains chains, so a driver that keeps the queue full (or refills it from
// another vCPU while the device serves it) cannot hold the I/O thread.
// Chains left over are not stranded: after Process the transport looks at the queue again
// (VirtioMmio::ServeQueue: HasAvailable) and calls Process again while chains remain and the
// last call took one (every call takes at least one when any is available); after 66 calls it
// re-signals the queue's eventfd, so the I/O thread serves its other work and then this queue
// again, without a new notification from the driver. One I/O-thread turn on this queue thus
// writes less than 66 * 320 KiB (about 21 MiB, some 40 ms of getrandom).
//
// Threading: called by the transport with its lock held (virtio_device.h); the counters are
// atomic, readable from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "core/memory/guest_memory.h"
#include "hw/virtio/virtio_device.h"

namespace vmmd::hw::virtio {

namespace rng {
inline constexpr uint16_t kQueueSize = 64;
// Most random bytes returned for one chain (a guest asking for more gets this many).
inline constexpr uint32_t kMaxChainBytes = 64 << 10;
// One Process call's budget (the rest on the next round, above): at ~0.5 GB/s of getrandom,
// 256 KiB is about half a millisecond of the I/O thread.
inline constexpr uint64_t kMaxProcessBytes = 256 << 10;
inline constexpr uint32_t kMaxProcessChains = 64;
}  // namespace rng

class VirtioRng : public VirtioDevice {
 public:
  struct Stats {
    uint64_t requests = 0;  // chains returned to the driver (errors included)
    uint64_t bytes = 0;     // random bytes written into guest buffers
    uint64_t errors = 0;    // chains without a writable byte, or cut short by a getrandom error
  };

  // INVALID_ARGUMENT without memory; FAILED_PRECONDITION while the host kernel's random pool
  // is not initialized (getrandom would block), the errno status if getrandom fails otherwise.
  static absl::StatusOr<std::unique_ptr<VirtioRng>> Create(const core::GuestMemory* memory);

  uint32_t device_type() const override { return kDeviceEntropy; }
  uint64_t features() const override { return 0; }
  uint16_t queue_count() const override { return 1; }
  uint16_t queue_max_size() const override { return rng::kQueueSize; }
  void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const override;
  void WriteConfig(uint64_t offset, absl::Span<const uint8_t> data) override;
  absl::Status Activate(uint64_t features) override;
  absl::Status Process(uint16_t index, Virtqueue& queue) override;
  void Reset() override {}

  Stats GetStats() const;

 private:
  explicit VirtioRng(const core::GuestMemory* memory) : memory_(memory) {}
  // Fills the first bytes of `chain`'s writable segments, up to kMaxChainBytes; returns how
  // many. `*failed` when it stopped short of that (getrandom failed).
  uint32_t Fill(const Chain& chain, bool* failed);

  const core::GuestMemory* const memory_;
  std::atomic<uint64_t> requests_{0}, bytes_{0}, errors_{0};
};

}  // namespace vmmd::hw::virtio
