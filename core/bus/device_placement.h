// Where the board puts a device: its MMIO window and its interrupt. A device takes it at
// construction and describes itself from it (DT node, AML); the composition root's device
// table is the only place that decides it, so no address or interrupt is written twice.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace vmmd::core {

struct DevicePlacement {
  uint64_t base = 0;  // guest-physical
  uint64_t size = 0;  // bytes of the window
  std::optional<uint32_t> spi =
      std::nullopt;  // the GIC shared peripheral interrupt (INTID 32 + spi), if any

  // The SPI, or FAILED_PRECONDITION naming `device` when the board gave it none.
  absl::StatusOr<uint32_t> RequireSpi(absl::string_view device) const {
    if (spi.has_value()) return *spi;
    return absl::FailedPreconditionError(absl::StrCat(device, " has no interrupt on this board"));
  }
};

}  // namespace vmmd::core
