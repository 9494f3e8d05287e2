// DSDT description of the PL011 console: Device (COM0) { _HID "ARMH0011", _UID 0, _CRS
// Memory32Fixed (base, size) + Interrupt (Level, ActiveHigh) {gsiv} }. Lives here until the PL011
// device implements AmlDescribed itself; the composition root adds it to dsdt_devices.
#pragma once

#include <cstdint>

#include "acpi/aml_described.h"

namespace vmmd::acpi {

class Pl011Aml final : public AmlDescribed {
 public:
  Pl011Aml(uint64_t base, uint32_t size, uint32_t gsiv) : base_(base), size_(size), gsiv_(gsiv) {}
  absl::Status DescribeAml(AmlScope& sb) const override;

 private:
  uint64_t base_;
  uint32_t size_;
  uint32_t gsiv_;
};

}  // namespace vmmd::acpi
