// Where a character device's output goes (the PL011's transmitted bytes, for example).
#pragma once

#include <cstdint>

#include "absl/types/span.h"

namespace vmmd::hw {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Called on a vCPU thread, possibly with the calling device's lock held: must return quickly
  // (buffer, never wait on a slow consumer), must not call back into the device, and must cope
  // with calls from several threads at once.
  virtual void Write(absl::Span<const uint8_t> bytes) = 0;
};

}  // namespace vmmd::hw
