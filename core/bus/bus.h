// The MMIO bus: non-overlapping [base, base+size) ranges → devices. Built before any vCPU runs
// and immutable afterwards, so lookups take no lock. Accesses that hit no device, or straddle a
// device's end, are counted and ignored (reads return zeros): a guest cannot make them fatal.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "core/bus/bus_device.h"

namespace vmmd::core {

class Bus {
 public:
  Bus() = default;
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  // INVALID_ARGUMENT for size 0 or a range that wraps; ALREADY_EXISTS if it overlaps another.
  absl::Status Insert(uint64_t base, uint64_t size, std::shared_ptr<BusDevice> device,
                      std::string name);

  // True if a device took the access.
  bool Read(uint64_t addr, absl::Span<uint8_t> data);
  bool Write(uint64_t addr, absl::Span<const uint8_t> data);

  uint64_t unmapped_accesses() const { return unmapped_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    uint64_t size;
    std::shared_ptr<BusDevice> device;
    std::string name;
  };
  // The entry containing [addr, addr+len), or nullptr.
  const Entry* Find(uint64_t addr, uint64_t len, uint64_t* offset) const;
  void CountUnmapped(uint64_t addr, size_t len, bool is_write);

  std::map<uint64_t, Entry> entries_;  // by base
  std::atomic<uint64_t> unmapped_{0};
};

}  // namespace vmmd::core
