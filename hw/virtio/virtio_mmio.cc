#include "hw/virtio/virtio_mmio.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "acpi/aml.h"
#include "core/arch/aarch64/layout.h"
#include "core/common/log.h"
#include "core/common/status_macros.h"

namespace vmmd::hw::virtio {

using namespace mmio;  // NOLINT(build/namespaces): the register names

absl::StatusOr<std::shared_ptr<VirtioMmio>> VirtioMmio::Create(std::unique_ptr<VirtioDevice> device,
                                                               const core::GuestMemory* memory,
                                                               core::IrqLine* irq,
                                                               core::DevicePlacement at,
                                                               uint32_t index) {
  if (device == nullptr || irq == nullptr) {
    return absl::InvalidArgumentError("a virtio-mmio transport needs a device and an interrupt");
  }
  if (at.size < kWindowSize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("a virtio-mmio window of 0x%x bytes (0x%x needed)", at.size, kWindowSize));
  }
  const uint16_t max = device->queue_max_size();
  if (device->queue_count() == 0 || max == 0 || (max & (max - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "virtio device type %u: %u queues of at most %u entries (a power of 2 is needed)",
        device->device_type(), device->queue_count(), max));
  }
  std::vector<EventFd> notify;
  for (uint16_t i = 0; i < device->queue_count(); ++i) {
    VMMD_ASSIGN_OR_RETURN(EventFd fd, EventFd::Create());
    notify.push_back(std::move(fd));
  }
  return std::shared_ptr<VirtioMmio>(
      new VirtioMmio(std::move(device), memory, irq, at, index, std::move(notify)));
}

VirtioMmio::VirtioMmio(std::unique_ptr<VirtioDevice> device, const core::GuestMemory* memory,
                       core::IrqLine* irq, core::DevicePlacement at, uint32_t index,
                       std::vector<EventFd> notify)
    : memory_(memory),
      irq_(irq),
      at_(at),
      index_(index),
      notify_(std::move(notify)),
      device_(std::move(device)),
      queues_(device_->queue_count()) {}

uint64_t VirtioMmio::OfferedFeatures() const ABSL_NO_THREAD_SAFETY_ANALYSIS {
  // The device's offer does not change after construction.
  return device_->features() | kFeatureVersion1 | kFeatureIndirectDesc | kFeatureEventIdx;
}

VirtioMmio::Queue* VirtioMmio::SelectedQueue() {
  return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr;
}

void VirtioMmio::Read(uint64_t offset, absl::Span<uint8_t> data) {
  if (offset >= kConfig) {
    absl::MutexLock lock(&mu_);
    device_->ReadConfig(offset - kConfig, data);
    return;
  }
  if (data.size() != 4 || offset % 4 != 0) {
    core::StoreLe(data, 0);
    absl::MutexLock lock(&mu_);
    ++stats_.bad_accesses;
    return;
  }
  if (offset == kInterruptStatus) {  // the interrupt handler's read: never waits
    core::StoreLe(data, interrupt_status_.load(std::memory_order_acquire));
    return;
  }
  absl::MutexLock lock(&mu_);
  core::StoreLe(data, ReadRegister(offset));
}

uint32_t VirtioMmio::ReadRegister(uint64_t offset) {
  const Queue* q = SelectedQueue();
  switch (offset) {
    case kMagic:
      return kMagicValue;
    case kVersion:
      return 2;
    case kDeviceId:
      return device_->device_type();
    case kVendorId:
      return kVendor;
    case kDeviceFeatures:
      return device_features_sel_ < 2
                 ? static_cast<uint32_t>(OfferedFeatures() >> (32 * device_features_sel_))
                 : 0;
    case kQueueNumMax:
      return q != nullptr ? device_->queue_max_size() : 0;
    case kQueueReady:
      return q != nullptr && q->ring.has_value() ? 1 : 0;
    case kStatus:
      return status_;
    case kShmLenLow:
    case kShmLenHigh:
      return 0xffff'ffff;  // no shared memory regions
    case kConfigGeneration:
      return config_generation_;
    case kQueueNum:
      return q != nullptr ? q->config.size : 0;
    case kQueueDescLow:
      return q != nullptr ? static_cast<uint32_t>(q->config.desc) : 0;
    case kQueueDescHigh:
      return q != nullptr ? static_cast<uint32_t>(q->config.desc >> 32) : 0;
    case kQueueDriverLow:
      return q != nullptr ? static_cast<uint32_t>(q->config.avail) : 0;
    case kQueueDriverHigh:
      return q != nullptr ? static_cast<uint32_t>(q->config.avail >> 32) : 0;
    case kQueueDeviceLow:
      return q != nullptr ? static_cast<uint32_t>(q->config.used) : 0;
    case kQueueDeviceHigh:
      return q != nullptr ? static_cast<uint32_t>(q->config.used >> 32) : 0;
    default:
      ++stats_.bad_accesses;  // write-only or unknown
      return 0;
  }
}

void VirtioMmio::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  if (offset >= kConfig) {
    absl::MutexLock lock(&mu_);
    device_->WriteConfig(offset - kConfig, data);
    return;
  }
  if (data.size() != 4 || offset % 4 != 0) {
    absl::MutexLock lock(&mu_);
    ++stats_.bad_accesses;
    return;
  }
  const auto value = static_cast<uint32_t>(core::LoadLe(data));
  if (offset == kQueueNotify) {  // a store KVM did not turn into an eventfd signal
    if (value < notify_.size()) {
      mmio_notifications_.fetch_add(1, std::memory_order_relaxed);
      notify_[value].Signal();
    } else {
      absl::MutexLock lock(&mu_);
      ++stats_.bad_accesses;
    }
    return;
  }
  if (offset == kInterruptAck) {
    interrupt_status_.fetch_and(~value, std::memory_order_acq_rel);
    return;
  }
  absl::MutexLock lock(&mu_);
  WriteRegister(offset, value);
}

void VirtioMmio::WriteRegister(uint64_t offset, uint32_t value) {
  switch (offset) {
    case kDeviceFeaturesSel:
      device_features_sel_ = value;
      return;
    case kDriverFeaturesSel:
      driver_features_sel_ = value;
      return;
    case kDriverFeatures:
      // Only while negotiating: after FEATURES_OK the features are fixed.
      if ((status_ & kStatusFeaturesOk) != 0 || driver_features_sel_ >= 2) break;
      driver_features_ &= ~(uint64_t{0xffff'ffff} << (32 * driver_features_sel_));
      driver_features_ |= uint64_t{value} << (32 * driver_features_sel_);
      return;
    case kQueueSel:
      queue_sel_ = value;
      return;
    case kQueueNum:
      if (Queue* q = SelectedQueue(); q != nullptr && !q->ring.has_value()) {
        q->config.size = value;
        return;
      }
      break;
    case kQueueReady:
      SetQueueReady(value == 1);
      return;
    case kStatus:
      WriteStatus(value);
      return;
    case kQueueDescLow:
    case kQueueDescHigh:
    case kQueueDriverLow:
    case kQueueDriverHigh:
    case kQueueDeviceLow:
    case kQueueDeviceHigh:
      SetQueueAddress(offset, value);
      return;
    case kShmSel:
      return;  // there are none to select
    default:
      break;
  }
  ++stats_.bad_accesses;
}

void VirtioMmio::SetQueueAddress(uint64_t offset, uint32_t value) {
  Queue* q = SelectedQueue();
  if (q == nullptr || q->ring.has_value()) {  // no queue, or changed while in use
    ++stats_.bad_accesses;
    return;
  }
  uint64_t* field = offset < kQueueDriverLow   ? &q->config.desc
                    : offset < kQueueDeviceLow ? &q->config.avail
                                               : &q->config.used;
  const int shift = (offset % 8 == 4) ? 32 : 0;
  *field = (*field & ~(uint64_t{0xffff'ffff} << shift)) | (uint64_t{value} << shift);
}

void VirtioMmio::SetQueueReady(bool ready) {
  Queue* q = SelectedQueue();
  if (q == nullptr) {
    ++stats_.bad_accesses;
    return;
  }
  if (!ready) {
    q->ring.reset();
    return;
  }
  if (q->ring.has_value()) return;
  if ((status_ & kStatusFeaturesOk) == 0 || q->config.size > device_->queue_max_size()) {
    Break(absl::FailedPreconditionError(
        absl::StrFormat("queue %u made ready before FEATURES_OK or with size %u > %u", queue_sel_,
                        q->config.size, device_->queue_max_size())));
    return;
  }
  QueueConfig config = q->config;
  config.event_idx = (driver_features_ & kFeatureEventIdx) != 0;
  config.indirect = (driver_features_ & kFeatureIndirectDesc) != 0;
  absl::StatusOr<Virtqueue> ring = Virtqueue::Create(memory_, config);
  if (!ring.ok()) {
    Break(ring.status());
    return;
  }
  q->ring.emplace(*std::move(ring));
}

void VirtioMmio::WriteStatus(uint32_t value) {
  if (value == 0) {
    ResetLocked();
    return;
  }
  // The driver only adds bits (section 3.1.1); a device that needs a reset stays so.
  const uint32_t added = value & ~status_;
  if ((value & status_) != status_) {
    ++stats_.bad_accesses;
    return;
  }
  if ((added & kStatusFeaturesOk) != 0) {
    const uint64_t offered = OfferedFeatures();
    if ((driver_features_ & ~offered) != 0 || (driver_features_ & kFeatureVersion1) == 0) {
      // FEATURES_OK does not stick: the driver reads the status back and gives up.
      status_ |= added & ~(kStatusFeaturesOk | kStatusDriverOk);
      return;
    }
  }
  if ((added & kStatusDriverOk) != 0) {
    if ((status_ & kStatusFeaturesOk) == 0 && (added & kStatusFeaturesOk) == 0) {
      ++stats_.bad_accesses;
      return;
    }
    for (const Queue& q : queues_) {
      if (!q.ring.has_value()) {
        status_ |= added;
        Break(absl::FailedPreconditionError("DRIVER_OK with a queue that is not ready"));
        return;
      }
    }
    if (absl::Status s = device_->Activate(driver_features_); !s.ok()) {
      status_ |= added;
      Break(s);
      return;
    }
    active_ = true;
  }
  status_ |= added;
}

void VirtioMmio::ResetLocked() {
  if (status_ != 0) ++stats_.resets;
  device_->Reset();
  active_ = false;
  status_ = 0;
  driver_features_ = 0;
  device_features_sel_ = driver_features_sel_ = queue_sel_ = 0;
  for (Queue& q : queues_) q = Queue{};
  interrupt_status_.store(0, std::memory_order_release);
  // Notifications still queued in the eventfds find an inactive device and are dropped.
}

void VirtioMmio::Break(const absl::Status& why) {
  ++stats_.broken;
  active_ = false;
  status_ |= kStatusNeedsReset;
  ++config_generation_;
  // The guest decides how often this happens: the first few are logged, then every 1000th.
  if (stats_.broken <= 3 || stats_.broken % 1000 == 0) {
    LogWarning("virtio-mmio@%x (device type %u): needs a reset (%u times): %s", at_.base,
               device_->device_type(), stats_.broken, why.ToString());
  }
  Raise(kInterruptConfigChange);
}

void VirtioMmio::Raise(uint32_t bits) {
  interrupt_status_.fetch_or(bits, std::memory_order_acq_rel);
  interrupts_.fetch_add(1, std::memory_order_relaxed);
  irq_->Pulse();
}

std::vector<NotifyEvent> VirtioMmio::NotifyEvents() const {
  std::vector<NotifyEvent> out;
  for (size_t i = 0; i < notify_.size(); ++i) {
    out.push_back(
        NotifyEvent{.gpa = at_.base + kQueueNotify, .len = 4, .value = i, .fd = notify_[i].fd()});
  }
  return out;
}

absl::Status VirtioMmio::AttachTo(EventLoop& loop) {
  for (size_t i = 0; i < notify_.size(); ++i) {
    VMMD_RETURN_IF_ERROR(loop.Watch(notify_[i].fd(), [this, i] {
      notify_[i].Drain();
      ServeQueue(static_cast<uint16_t>(i));
    }));
  }
  std::vector<VirtioDevice::BackendEvent> backend;
  {
    absl::MutexLock lock(&mu_);
    backend = device_->BackendEvents();
  }
  for (const VirtioDevice::BackendEvent& e : backend) {
    if (e.queue >= notify_.size()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "a backend event for queue %u of a device with %u", e.queue, notify_.size()));
    }
    VMMD_RETURN_IF_ERROR(loop.Watch(
        e.fd, [this, q = e.queue] { ServeQueue(q, /*notified=*/false); },
        EventLoop::Trigger::kEdge));
  }
  return absl::OkStatus();
}

void VirtioMmio::ServeQueue(uint16_t index, bool notified) {
  absl::MutexLock lock(&mu_);
  if (notified) ++stats_.notifications;
  if (!active_ || index >= queues_.size() || !queues_[index].ring.has_value()) return;
  Virtqueue& q = *queues_[index].ring;
  // Serve until the driver has nothing more: with event indices, the device asks for the next
  // notification and then looks again, or a buffer made available in between would wait. A
  // round that took nothing ends it too: the device had no work for the buffers it has (a
  // receive queue with no frames waiting), and the next frame or notification comes back.
  for (int round = 0;; ++round) {
    const uint16_t taken = q.next_avail();
    if (absl::Status s = device_->Process(index, q); !s.ok()) {
      Break(s);
      return;
    }
    absl::StatusOr<bool> interrupt = q.ShouldInterrupt();
    if (!interrupt.ok()) {
      Break(interrupt.status());
      return;
    }
    if (*interrupt) Raise(kInterruptUsedBuffer);
    if (absl::Status s = q.EnableNotification(); !s.ok()) {
      Break(s);
      return;
    }
    absl::StatusOr<bool> more = q.HasAvailable();
    if (!more.ok()) {
      Break(more.status());
      return;
    }
    if (!*more || q.next_avail() == taken) return;
    if (round > 64) {  // a driver that never stops adding: let the other queues run
      notify_[index].Signal();
      return;
    }
  }
}

VirtioMmio::Stats VirtioMmio::GetStats() const {
  absl::MutexLock lock(&mu_);
  Stats s = stats_;
  s.interrupts = interrupts_.load(std::memory_order_relaxed);
  s.mmio_notifications = mmio_notifications_.load(std::memory_order_relaxed);
  return s;
}

std::string VirtioMmio::FdtNodeName() const { return absl::StrFormat("virtio_mmio@%x", at_.base); }

absl::Status VirtioMmio::DescribeFdt(core::aarch64::FdtWriter& fdt) const {
  VMMD_ASSIGN_OR_RETURN(const uint32_t spi, at_.RequireSpi("a virtio-mmio transport"));
  VMMD_RETURN_IF_ERROR(fdt.BeginNode(FdtNodeName()));
  VMMD_RETURN_IF_ERROR(fdt.PropString("compatible", "virtio,mmio"));
  const std::pair<uint64_t, uint64_t> reg[] = {{at_.base, at_.size}};
  VMMD_RETURN_IF_ERROR(fdt.PropReg("reg", reg));
  // An edge: the irqfd pulses it; InterruptStatus holds the reasons until acknowledged.
  VMMD_RETURN_IF_ERROR(fdt.PropCells(
      "interrupts", {core::aarch64::kFdtIrqTypeSpi, spi, core::aarch64::kFdtIrqEdgeRising}));
  VMMD_RETURN_IF_ERROR(fdt.PropEmpty("dma-coherent"));
  return fdt.EndNode();
}

absl::Status VirtioMmio::DescribeAml(acpi::AmlScope& sb) const {
  if (at_.base + at_.size - 1 > 0xFFFF'FFFFu || index_ > 99) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "virtio-mmio %u at 0x%x is not describable by Memory32Fixed/VRnn", index_, at_.base));
  }
  VMMD_ASSIGN_OR_RETURN(const uint32_t spi, at_.RequireSpi("a virtio-mmio transport"));
  using namespace acpi::aml;  // NOLINT(build/namespaces)
                              // clang-format off
  sb.Add(Device(absl::StrFormat("VR%02u", index_), {
      Name("_HID", String("LNRO0005")),
      Name("_UID", Int(index_)),
      // Cache-coherent DMA: without _CCA, arm64 Linux gives the device no DMA at all.
      Name("_CCA", One()),
      Name("_CRS", ResourceTemplate({
          Memory32Fixed(static_cast<uint32_t>(at_.base), static_cast<uint32_t>(at_.size)),
          Interrupt({.edge = true}, {core::aarch64::kSpiIntidBase + spi}),
      })),
  }));
                              // clang-format on
  return absl::OkStatus();
}

}  // namespace vmmd::hw::virtio
