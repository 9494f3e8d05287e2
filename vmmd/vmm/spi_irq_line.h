// IrqLines wired to one GIC shared peripheral interrupt of a VM: by a KVM_IRQ_LINE call per
// level change (SpiIrqLine), or by an eventfd KVM watches (IrqFdLine: an edge per signal, no
// call on the VM; what the I/O thread's devices use).
#pragma once

#include <atomic>
#include <cstdint>

#include "core/bus/irq_line.h"
#include "core/common/event_fd.h"
#include "core/common/log.h"
#include "core/hypervisor/hypervisor.h"

namespace vmmd::vmm {

class SpiIrqLine : public core::IrqLine {
 public:
  SpiIrqLine(core::VmHandle* vm, uint32_t spi) : vm_(vm), spi_(spi) {}
  void SetLevel(bool high) override {
    absl::Status s = vm_->SetSpiLevel(spi_, high);
    if (!s.ok() && errors_.fetch_add(1) < 4) {
      LogWarning("SPI %u level %d: %s", spi_, high, s.ToString());
    }
  }

 private:
  core::VmHandle* const vm_;
  const uint32_t spi_;
  std::atomic<uint32_t> errors_{0};
};

// Only rising edges exist: SetLevel(true) signals, SetLevel(false) does nothing (Pulse is one
// edge). The guest's driver learns why from the device (virtio's InterruptStatus).
class IrqFdLine : public core::IrqLine {
 public:
  explicit IrqFdLine(EventFd fd) : fd_(std::move(fd)) {}
  void SetLevel(bool high) override {
    if (high) fd_.Signal();
  }
  int fd() const { return fd_.fd(); }

 private:
  EventFd fd_;
};

}  // namespace vmmd::vmm
