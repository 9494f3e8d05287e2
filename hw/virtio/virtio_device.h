// What a virtio device model gives its transport (virtio_mmio.h): its type, features, queues
// and configuration space, and the work it does on a notified queue. The transport owns the
// registers, the feature negotiation, the queues and the interrupt; a device sees only queues
// that passed the transport's checks, after the driver set DRIVER_OK.
//
// Threading: the transport calls every method with its own lock held, so a device needs no
// lock for state only these methods touch. Process runs on the VM's I/O thread; the others on
// vCPU threads (register accesses) or the thread that builds the machine.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "hw/virtio/virtqueue.h"

namespace vmmd::hw::virtio {

// Feature bits the transport handles for every device (Virtio 1.2, section 6).
inline constexpr uint64_t kFeatureIndirectDesc = 1ULL << 28;
inline constexpr uint64_t kFeatureEventIdx = 1ULL << 29;
inline constexpr uint64_t kFeatureVersion1 = 1ULL << 32;

// Device IDs (section 5).
inline constexpr uint32_t kDeviceNet = 1;
inline constexpr uint32_t kDeviceBlock = 2;
inline constexpr uint32_t kDeviceEntropy = 4;

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  virtual uint32_t device_type() const = 0;
  // The device-specific features it offers (the transport adds the ones above).
  virtual uint64_t features() const = 0;
  virtual uint16_t queue_count() const = 0;
  // The largest size of each queue (a power of 2).
  virtual uint16_t queue_max_size() const = 0;
  // The configuration space (little-endian). Bytes beyond it read as 0; writes to what is not
  // writable are ignored.
  virtual void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const = 0;
  virtual void WriteConfig(uint64_t offset, absl::Span<const uint8_t> data) = 0;
  // DRIVER_OK: the driver accepted `features` (a subset of what was offered, VERSION_1 among
  // them) and set up the queues. An error refuses the device (the transport sets
  // DEVICE_NEEDS_RESET).
  virtual absl::Status Activate(uint64_t features) = 0;
  // The driver made buffers available on queue `index` (ready, of this device): take them,
  // serve them, return them (PushUsed). The transport interrupts the driver afterwards if the
  // queue asks for it. DATA_LOSS for a broken queue (from Virtqueue::Pop): the transport stops
  // the device until the driver resets it.
  virtual absl::Status Process(uint16_t index, Virtqueue& queue) = 0;
  // The driver reset the device (status 0): back to the state before Activate.
  virtual void Reset() = 0;

  // Host descriptors the device also waits on, each with the queue to serve when it becomes
  // readable (a TAP with frames for the receive queue). Watched edge-triggered by the I/O
  // thread: Process reads what it has room for and leaves the rest, and is called again when
  // more arrives or when the driver notifies that queue (made room).
  struct BackendEvent {
    int fd = -1;
    uint16_t queue = 0;
  };
  virtual std::vector<BackendEvent> BackendEvents() const { return {}; }
};

}  // namespace vmmd::hw::virtio
