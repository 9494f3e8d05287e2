// The virtio-mmio transport, version 2 (Virtio 1.2, section 4.2.2: "modern" only), for one
// device in one MMIO window: the registers a driver negotiates features and sets up queues
// with, the device's configuration space at 0x100, and the interrupt.
//
// Notifications: each queue has an eventfd. The machine lets KVM signal it when the guest
// stores the queue's index at QueueNotify (NotifyEvents, KVM_IOEVENTFD), so a notification
// costs no exit to vmmd; a store KVM does not match arrives here as MMIO and signals the same
// eventfd. The VM's I/O thread watches them (AttachTo) and runs the device on the queue.
// Interrupts: the IrqLine is pulsed (an edge; an irqfd in the machine) after the device
// returned buffers the driver wants to hear about, or after a configuration change; the
// InterruptStatus bits say which.
//
// The guest is hostile: register accesses that are not 32-bit aligned words (configuration
// space aside) read 0 and are ignored; features outside the offer make FEATURES_OK not stick;
// a queue must be set up (size a power of 2 up to the device's maximum, rings aligned and in
// guest RAM) before QueueReady takes; DRIVER_OK activates only a device whose every queue is
// ready. A queue the driver breaks (virtqueue.h) sets DEVICE_NEEDS_RESET and raises a
// configuration interrupt: the device serves nothing until the driver resets it (status 0).
//
// Thread safety: register accesses (vCPU threads) and queue processing (the I/O thread) take
// one lock; InterruptStatus and InterruptACK are atomic and never wait for a request in flight.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "acpi/aml_described.h"
#include "core/arch/aarch64/fdt_writer.h"
#include "core/bus/bus_device.h"
#include "core/bus/device_placement.h"
#include "core/bus/irq_line.h"
#include "core/common/event_fd.h"
#include "core/common/event_loop.h"
#include "core/memory/guest_memory.h"
#include "hw/virtio/virtio_device.h"
#include "hw/virtio/virtqueue.h"

namespace vmmd::hw::virtio {

namespace mmio {
// Register offsets (section 4.2.2).
inline constexpr uint64_t kMagic = 0x000;  // "virt"
inline constexpr uint64_t kVersion = 0x004;
inline constexpr uint64_t kDeviceId = 0x008;
inline constexpr uint64_t kVendorId = 0x00c;
inline constexpr uint64_t kDeviceFeatures = 0x010;
inline constexpr uint64_t kDeviceFeaturesSel = 0x014;
inline constexpr uint64_t kDriverFeatures = 0x020;
inline constexpr uint64_t kDriverFeaturesSel = 0x024;
inline constexpr uint64_t kQueueSel = 0x030;
inline constexpr uint64_t kQueueNumMax = 0x034;
inline constexpr uint64_t kQueueNum = 0x038;
inline constexpr uint64_t kQueueReady = 0x044;
inline constexpr uint64_t kQueueNotify = 0x050;
inline constexpr uint64_t kInterruptStatus = 0x060;
inline constexpr uint64_t kInterruptAck = 0x064;
inline constexpr uint64_t kStatus = 0x070;
inline constexpr uint64_t kQueueDescLow = 0x080;
inline constexpr uint64_t kQueueDescHigh = 0x084;
inline constexpr uint64_t kQueueDriverLow = 0x090;
inline constexpr uint64_t kQueueDriverHigh = 0x094;
inline constexpr uint64_t kQueueDeviceLow = 0x0a0;
inline constexpr uint64_t kQueueDeviceHigh = 0x0a4;
inline constexpr uint64_t kShmSel = 0x0ac;
inline constexpr uint64_t kShmLenLow = 0x0b0;
inline constexpr uint64_t kShmLenHigh = 0x0b4;
inline constexpr uint64_t kShmBaseLow = 0x0b8;
inline constexpr uint64_t kShmBaseHigh = 0x0bc;
inline constexpr uint64_t kConfigGeneration = 0x0fc;
inline constexpr uint64_t kConfig = 0x100;

inline constexpr uint32_t kMagicValue = 0x74726976;  // "virt", little-endian
inline constexpr uint32_t kVendor = 0x444d4d56;      // "VMMD"
// The window of one transport (what QEMU's virt machine gives each).
inline constexpr uint64_t kWindowSize = 0x200;

// InterruptStatus bits.
inline constexpr uint32_t kInterruptUsedBuffer = 1;
inline constexpr uint32_t kInterruptConfigChange = 2;

// Device status bits (section 2.1).
inline constexpr uint32_t kStatusAcknowledge = 1;
inline constexpr uint32_t kStatusDriver = 2;
inline constexpr uint32_t kStatusDriverOk = 4;
inline constexpr uint32_t kStatusFeaturesOk = 8;
inline constexpr uint32_t kStatusNeedsReset = 64;
inline constexpr uint32_t kStatusFailed = 128;
}  // namespace mmio

// A store KVM turns into a queue's eventfd signal (KVM_IOEVENTFD with a data match).
struct NotifyEvent {
  uint64_t gpa = 0;
  uint32_t len = 4;
  uint64_t value = 0;  // the queue index
  int fd = -1;
};

class VirtioMmio : public core::BusDevice,
                   public core::aarch64::FdtDescribed,
                   public acpi::AmlDescribed {
 public:
  struct Stats {
    uint64_t notifications = 0;       // notifications handled (any path)
    uint64_t mmio_notifications = 0;  // ... of which arrived as MMIO exits
    uint64_t interrupts = 0;
    uint64_t resets = 0;
    uint64_t broken = 0;  // times the device was stopped for a broken queue or activation
    uint64_t bad_accesses = 0;
  };

  // `index` numbers the transport among the board's (the DSDT object VRnn and its _UID).
  static absl::StatusOr<std::shared_ptr<VirtioMmio>> Create(std::unique_ptr<VirtioDevice> device,
                                                            const core::GuestMemory* memory,
                                                            core::IrqLine* irq,
                                                            core::DevicePlacement at,
                                                            uint32_t index);

  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;
  absl::Status DescribeFdt(core::aarch64::FdtWriter& fdt) const override;
  absl::Status DescribeAml(acpi::AmlScope& sb) const override;

  // The stores to hand to KVM_IOEVENTFD (one per queue).
  std::vector<NotifyEvent> NotifyEvents() const;
  // Has `loop` run the device when a queue is notified or one of its backend descriptors
  // becomes readable (VirtioDevice::BackendEvents). Before the loop starts.
  absl::Status AttachTo(EventLoop& loop);
  // Serves queue `index` now, on the calling thread: what the I/O thread does when the queue
  // is notified (fuzzing drives it directly) or, not `notified`, when the device's backend has
  // something for it. Nothing happens for an inactive device.
  void ServeQueue(uint16_t index, bool notified = true);

  Stats GetStats() const;
  // The device, for the machine's own reports (its counters); the transport keeps owning it.
  const VirtioDevice& device() const { return *device_; }
  std::string FdtNodeName() const;

 private:
  struct Queue {
    QueueConfig config;             // as the driver wrote it (size, ring addresses)
    std::optional<Virtqueue> ring;  // set while ready
  };

  VirtioMmio(std::unique_ptr<VirtioDevice> device, const core::GuestMemory* memory,
             core::IrqLine* irq, core::DevicePlacement at, uint32_t index,
             std::vector<EventFd> notify);
  uint32_t ReadRegister(uint64_t offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteRegister(uint64_t offset, uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteStatus(uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetQueueReady(bool ready) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetQueueAddress(uint64_t offset, uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ResetLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stops the device until the next reset and tells the driver.
  void Break(const absl::Status& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Raise(uint32_t bits);
  Queue* SelectedQueue() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t OfferedFeatures() const;

  const core::GuestMemory* const memory_;
  core::IrqLine* const irq_;
  const core::DevicePlacement at_;
  const uint32_t index_;
  const std::vector<EventFd> notify_;  // one per queue

  mutable absl::Mutex mu_;
  std::unique_ptr<VirtioDevice> device_ ABSL_GUARDED_BY(mu_);
  std::vector<Queue> queues_ ABSL_GUARDED_BY(mu_);
  uint32_t status_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t device_features_sel_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t driver_features_sel_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t driver_features_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t queue_sel_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t config_generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool active_ ABSL_GUARDED_BY(mu_) = false;  // DRIVER_OK accepted, not broken
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint32_t> interrupt_status_{0};
  std::atomic<uint64_t> interrupts_{0};
  std::atomic<uint64_t> mmio_notifications_{0};
};

}  // namespace vmmd::hw::virtio
