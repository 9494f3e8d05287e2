// A virtio 1.x split virtqueue (Virtio 1.2, section 2.7), device side, over guest RAM.
//
// Everything in the rings is the guest's and hostile: every index is checked against the queue
// size, every descriptor's buffer against guest RAM (GuestMemory::Contains), a chain is at most
// `size` descriptors long (so a loop is found, never followed), an indirect table is one level
// deep, a multiple of 16 bytes and no longer than the queue size allows, and an available index
// that runs more than `size` ahead of what the device has taken is refused. Any of these is a
// broken queue (DATA_LOSS naming what was wrong): the device stops using it and sets
// DEVICE_NEEDS_RESET; nothing outside the VM's RAM is ever read or written.
//
// Memory ordering: the available index is read before the ring entries it covers (acquire);
// a used element is written before the used index that publishes it (release).
//
// Not thread-safe: a device uses each queue from one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/memory/guest_memory.h"

namespace vmmd::hw::virtio {

// The largest queue size the spec allows.
inline constexpr uint32_t kMaxQueueSize = 32768;

// Descriptor flags (section 2.7.5).
inline constexpr uint16_t kDescNext = 1;
inline constexpr uint16_t kDescWrite = 2;
inline constexpr uint16_t kDescIndirect = 4;
// Ring flags.
inline constexpr uint16_t kAvailNoInterrupt = 1;
inline constexpr uint16_t kUsedNoNotify = 1;

// Where the driver put the queue (the transport's QueueDesc/Driver/Device registers) and which
// features shape it.
struct QueueConfig {
  uint32_t size = 0;       // a power of 2, 1..kMaxQueueSize
  uint64_t desc = 0;       // descriptor table: 16 * size bytes, 16-aligned
  uint64_t avail = 0;      // available ring: 6 + 2 * size bytes, 2-aligned
  uint64_t used = 0;       // used ring: 6 + 8 * size bytes, 4-aligned
  bool event_idx = false;  // VIRTIO_F_EVENT_IDX negotiated
  bool indirect = false;   // VIRTIO_F_INDIRECT_DESC negotiated
};

// One buffer of a chain, in guest-physical terms (inside guest RAM, checked).
struct Segment {
  uint64_t gpa = 0;
  uint32_t len = 0;
  bool writable = false;  // device-writable (the driver's VIRTQ_DESC_F_WRITE)
};

// A request: the chain the driver made available, readable segments first.
struct Chain {
  uint16_t head = 0;  // what PushUsed returns to the driver
  std::vector<Segment> readable;
  std::vector<Segment> writable;
  uint64_t readable_bytes = 0;
  uint64_t writable_bytes = 0;
};

class Virtqueue {
 public:
  // INVALID_ARGUMENT for a size that is not a power of 2 in range, a misaligned ring, or rings
  // that are not wholly in guest RAM (what a transport refuses at QUEUE_READY).
  static absl::StatusOr<Virtqueue> Create(const core::GuestMemory* memory, QueueConfig config);

  // The next available chain, nullopt when the driver has made none available; DATA_LOSS when
  // the queue is broken (see above). Takes it: the device owns the chain until PushUsed.
  absl::StatusOr<std::optional<Chain>> Pop();
  // Returns a chain to the driver with `written` bytes written into its writable segments
  // (unless `publish` is false: then only with the next PublishUsed).
  // INVALID_ARGUMENT for a head beyond the queue; returning only chains it popped, each once,
  // with `written` within their writable bytes, is the device's part.
  absl::Status PushUsed(uint16_t head, uint32_t written, bool publish = true);
  // Hands the driver every element pushed with publish = false so far, at once (a frame's
  // mergeable buffers: the driver reads num_buffers elements as soon as it sees the first).
  absl::Status PublishUsed();
  // After PushUsed: whether the driver wants an interrupt for what was returned since the last
  // call (the used_event index with VIRTIO_F_EVENT_IDX, else the avail ring's NO_INTERRUPT
  // flag). Resets the "returned since" mark.
  absl::StatusOr<bool> ShouldInterrupt();
  // With VIRTIO_F_EVENT_IDX: asks the driver to notify once it makes chain `next` available
  // (the device's avail_event), i.e. when anything beyond what has been taken arrives.
  absl::Status EnableNotification();
  // Whether the driver has made chains available that Pop has not taken (DATA_LOSS as Pop for
  // an index too far ahead).
  absl::StatusOr<bool> HasAvailable() const;

  uint16_t next_avail() const { return next_avail_; }
  uint16_t next_used() const { return next_used_; }
  const QueueConfig& config() const { return config_; }

 private:
  Virtqueue(const core::GuestMemory* memory, QueueConfig config)
      : memory_(memory), config_(config) {}
  absl::Status Walk(uint16_t head, Chain* chain) const;
  absl::Status AddSegment(uint64_t addr, uint32_t len, uint16_t flags, Chain* chain) const;

  const core::GuestMemory* memory_;
  QueueConfig config_;
  uint16_t next_avail_ = 0;      // the next available-ring entry the device takes
  uint16_t next_used_ = 0;       // the next used-ring entry the device fills
  uint16_t signalled_used_ = 0;  // next_used_ at the last ShouldInterrupt
};

}  // namespace vmmd::hw::virtio
