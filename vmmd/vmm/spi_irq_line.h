// An IrqLine wired to one GIC shared peripheral interrupt of a VM.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/bus/irq_line.h"
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

}  // namespace vmmd::vmm
