// Driving a device the way a vCPU's MMIO exit does, and watching its interrupt line — for the
// device tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "core/bus/bus_device.h"
#include "core/bus/irq_line.h"

namespace vmmd::testing {

// The byte a read starts from: a device that leaves one it should fill untouched shows it.
inline constexpr uint8_t kMmioFill = 0xEE;

// Reads `size` (1..8) bytes at `offset` of `dev`, little-endian, as the bus hands them over.
inline uint64_t MmioRead(core::BusDevice& dev, uint64_t offset, size_t size) {
  uint8_t buf[8] = {kMmioFill, kMmioFill, kMmioFill, kMmioFill,
                    kMmioFill, kMmioFill, kMmioFill, kMmioFill};
  dev.Read(offset, absl::MakeSpan(buf, size));
  return core::LoadLe(absl::MakeConstSpan(buf, size));
}
inline uint32_t MmioRead32(core::BusDevice& dev, uint64_t offset) {
  return static_cast<uint32_t>(MmioRead(dev, offset, 4));
}

// Writes the low `size` (1..8) bytes of `value` at `offset` of `dev`, little-endian.
inline void MmioWrite(core::BusDevice& dev, uint64_t offset, uint64_t value, size_t size) {
  uint8_t buf[8];
  core::StoreLe(absl::MakeSpan(buf, size), value);
  dev.Write(offset, absl::MakeConstSpan(buf, size));
}
inline void MmioWrite32(core::BusDevice& dev, uint64_t offset, uint32_t value) {
  MmioWrite(dev, offset, value, 4);
}

// An interrupt line that records every level it is driven to. Thread-safe.
class RecordingIrq : public core::IrqLine {
 public:
  void SetLevel(bool high) override {
    absl::MutexLock lock(&mu_);
    levels_.push_back(high);
  }
  std::vector<bool> levels() const {
    absl::MutexLock lock(&mu_);
    return levels_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<bool> levels_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmmd::testing
