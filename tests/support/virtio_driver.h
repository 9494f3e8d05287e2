// A minimal virtio-mmio driver for device tests: the status handshake, feature negotiation and
// split queues laid out in guest RAM as Linux's driver does, then chains made available and
// their completions read back — everything through the transport's registers and the rings,
// as a guest would. Header-only; not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/bus/bus_device.h"
#include "core/common/event_loop.h"
#include "core/memory/guest_memory.h"
#include "hw/virtio/virtio_mmio.h"
#include "tests/support/mmio.h"

namespace vmmd::testing {

class TestVirtioDriver {
 public:
  static constexpr uint64_t kQueueStride = 0x10000;  // per queue: descriptors, avail, used

  struct Seg {
    uint64_t gpa = 0;
    uint32_t len = 0;
    bool writable = false;
  };
  struct Used {
    uint32_t id = 0;
    uint32_t len = 0;
  };

  // Rings go at `rings` (kQueueStride per queue, inside `mem`).
  TestVirtioDriver(core::BusDevice& dev, const core::GuestMemory& mem, uint64_t rings)
      : dev_(dev), mem_(mem), rings_(rings) {}

  uint32_t Reg(uint64_t offset) { return MmioRead32(dev_, offset); }
  void SetReg(uint64_t offset, uint32_t value) { MmioWrite32(dev_, offset, value); }

  uint64_t DeviceFeatures() {
    namespace m = hw::virtio::mmio;
    SetReg(m::kDeviceFeaturesSel, 0);
    uint64_t f = Reg(m::kDeviceFeatures);
    SetReg(m::kDeviceFeaturesSel, 1);
    return f | uint64_t{Reg(m::kDeviceFeatures)} << 32;
  }

  // Reset, ACKNOWLEDGE, DRIVER, `features`, FEATURES_OK (FAILED_PRECONDITION if it does not
  // stick), `queues` queues of `size` entries, then DRIVER_OK.
  absl::Status Init(uint64_t features, uint16_t queues, uint16_t size) {
    namespace m = hw::virtio::mmio;
    SetReg(m::kStatus, 0);
    SetReg(m::kStatus, m::kStatusAcknowledge);
    SetReg(m::kStatus, m::kStatusAcknowledge | m::kStatusDriver);
    SetReg(m::kDriverFeaturesSel, 0);
    SetReg(m::kDriverFeatures, static_cast<uint32_t>(features));
    SetReg(m::kDriverFeaturesSel, 1);
    SetReg(m::kDriverFeatures, static_cast<uint32_t>(features >> 32));
    const uint32_t negotiating = m::kStatusAcknowledge | m::kStatusDriver | m::kStatusFeaturesOk;
    SetReg(m::kStatus, negotiating);
    if ((Reg(m::kStatus) & m::kStatusFeaturesOk) == 0) {
      return absl::FailedPreconditionError("FEATURES_OK did not stick");
    }
    event_idx_ = (features & hw::virtio::kFeatureEventIdx) != 0;
    size_ = size;
    queues_.assign(queues, QueueState{});
    for (uint16_t q = 0; q < queues; ++q) {
      SetReg(m::kQueueSel, q);
      if (Reg(m::kQueueNumMax) < size) return absl::OutOfRangeError("queue too large");
      SetReg(m::kQueueNum, size);
      SetAddress(m::kQueueDescLow, Desc(q));
      SetAddress(m::kQueueDriverLow, Avail(q));
      SetAddress(m::kQueueDeviceLow, UsedRing(q));
      // Rings start zeroed, as a driver allocates them.
      std::vector<uint8_t> zero(kQueueStride, 0);
      if (absl::Status s = mem_.Write(Desc(q), zero); !s.ok()) return s;
      SetReg(m::kQueueReady, 1);
      if (Reg(m::kQueueReady) != 1) return absl::InternalError("queue not ready");
    }
    SetReg(m::kStatus, negotiating | m::kStatusDriverOk);
    return absl::OkStatus();
  }

  uint64_t Desc(uint16_t q) const { return rings_ + kQueueStride * q; }
  uint64_t Avail(uint16_t q) const { return Desc(q) + 0x4000; }
  uint64_t UsedRing(uint16_t q) const { return Desc(q) + 0x8000; }

  // Writes descriptor `i` of queue `q` as given (a hostile driver's tool as well).
  void WriteDesc(uint16_t q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                 uint16_t next) {
    const uint64_t d = Desc(q) + 16ULL * i;
    (void)mem_.WriteObj(d, addr);
    (void)mem_.WriteObj(d + 8, len);
    (void)mem_.WriteObj(d + 12, flags);
    (void)mem_.WriteObj(d + 14, next);
  }
  // Puts `head` in the next available slot and publishes it (no notification).
  void Publish(uint16_t q, uint16_t head) {
    const uint16_t idx = *mem_.ReadObj<uint16_t>(Avail(q) + 2);
    (void)mem_.WriteObj<uint16_t>(Avail(q) + 4 + 2 * (idx % size_), head);
    (void)mem_.WriteObj<uint16_t>(Avail(q) + 2, static_cast<uint16_t>(idx + 1));
    if (event_idx_) {  // interrupt for every completion
      (void)mem_.WriteObj<uint16_t>(Avail(q) + 4 + 2 * size_,
                                    *mem_.ReadObj<uint16_t>(UsedRing(q) + 2));
    }
  }
  // Builds a chain of `segs` from the next free descriptors, publishes it; returns its head.
  uint16_t Submit(uint16_t q, const std::vector<Seg>& segs) {
    QueueState& st = queues_[q];
    const uint16_t head = st.next_desc;
    for (size_t i = 0; i < segs.size(); ++i) {
      const uint16_t d = static_cast<uint16_t>((head + i) % size_);
      const bool last = i + 1 == segs.size();
      WriteDesc(q, d, segs[i].gpa, segs[i].len,
                static_cast<uint16_t>((last ? 0 : hw::virtio::kDescNext) |
                                      (segs[i].writable ? hw::virtio::kDescWrite : 0)),
                static_cast<uint16_t>((d + 1) % size_));
    }
    st.next_desc = static_cast<uint16_t>((head + segs.size()) % size_);
    Publish(q, head);
    return head;
  }
  void Notify(uint16_t q) { SetReg(hw::virtio::mmio::kQueueNotify, q); }

  uint16_t UsedIndex(uint16_t q) const { return *mem_.ReadObj<uint16_t>(UsedRing(q) + 2); }
  // Waits until queue `q`'s used index reaches `n` (the device runs on its own thread).
  bool WaitUsed(uint16_t q, uint16_t n, absl::Duration timeout = absl::Seconds(10)) const {
    const absl::Time deadline = absl::Now() + timeout;
    while (static_cast<int16_t>(UsedIndex(q) - n) < 0) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Microseconds(200));
    }
    return true;
  }
  Used UsedElem(uint16_t q, uint16_t i) const {
    const uint64_t e = UsedRing(q) + 4 + 8ULL * (i % size_);
    return Used{*mem_.ReadObj<uint32_t>(e), *mem_.ReadObj<uint32_t>(e + 4)};
  }

 private:
  struct QueueState {
    uint16_t next_desc = 0;
  };
  void SetAddress(uint64_t low_reg, uint64_t gpa) {
    SetReg(low_reg, static_cast<uint32_t>(gpa));
    SetReg(low_reg + 4, static_cast<uint32_t>(gpa >> 32));
  }

  core::BusDevice& dev_;
  const core::GuestMemory& mem_;
  const uint64_t rings_;
  uint16_t size_ = 0;
  bool event_idx_ = false;
  std::vector<QueueState> queues_;
};

// A device behind its transport, served by an I/O thread of its own (started), and a driver for
// it with its rings at `rings`. Stop `loop` before the transport goes.
struct VirtioRig {
  std::shared_ptr<hw::virtio::VirtioMmio> transport;
  std::unique_ptr<EventLoop> loop;
  std::unique_ptr<TestVirtioDriver> driver;
};

inline absl::StatusOr<VirtioRig> StartVirtioRig(std::unique_ptr<hw::virtio::VirtioDevice> device,
                                                const core::GuestMemory& mem, core::IrqLine* irq,
                                                core::DevicePlacement at, uint32_t index,
                                                uint64_t rings, const std::string& thread) {
  VirtioRig rig;
  absl::StatusOr<std::shared_ptr<hw::virtio::VirtioMmio>> t =
      hw::virtio::VirtioMmio::Create(std::move(device), &mem, irq, at, index);
  if (!t.ok()) return t.status();
  rig.transport = *std::move(t);
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  if (!loop.ok()) return loop.status();
  rig.loop = *std::move(loop);
  if (absl::Status s = rig.transport->AttachTo(*rig.loop); !s.ok()) return s;
  if (absl::Status s = rig.loop->Start(thread, ThreadRole::kNone); !s.ok()) return s;
  rig.driver = std::make_unique<TestVirtioDriver>(*rig.transport, mem, rings);
  return rig;
}

}  // namespace vmmd::testing
