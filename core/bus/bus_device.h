// A device on the MMIO bus. The bus hands it offsets relative to its own base, and only accesses
// that lie entirely inside its range, with sizes 1, 2, 4 or 8. Called from vCPU threads
// (possibly several at once): implementations do their own locking.
#pragma once

#include <cstdint>

#include "absl/types/span.h"

namespace vmmd::core {

class BusDevice {
 public:
  virtual ~BusDevice() = default;
  // Fill `data` (little-endian) with the value read at `offset`.
  virtual void Read(uint64_t offset, absl::Span<uint8_t> data) = 0;
  virtual void Write(uint64_t offset, absl::Span<const uint8_t> data) = 0;
};

// Little-endian helpers for device register code.
inline uint64_t LoadLe(absl::Span<const uint8_t> data) {
  uint64_t v = 0;
  for (size_t i = 0; i < data.size() && i < 8; ++i) v |= static_cast<uint64_t>(data[i]) << (8 * i);
  return v;
}
inline void StoreLe(absl::Span<uint8_t> data, uint64_t value) {
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = i < 8 ? static_cast<uint8_t>(value >> (8 * i)) : uint8_t{0};
  }
}

}  // namespace vmmd::core
