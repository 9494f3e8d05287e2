// The PL011's description in the DSDT (the console Linux finds under ACPI, with the SPCR).
#include "absl/strings/str_format.h"
#include "acpi/aml.h"
#include "core/arch/aarch64/layout.h"
#include "core/common/status_macros.h"
#include "hw/pl011/pl011.h"

namespace vmmd::hw {

absl::Status Pl011::DescribeAml(acpi::AmlScope& sb) const {
  if (at_.base > 0xFFFF'FFFFu || at_.size == 0 || at_.size > 0xFFFF'FFFFu ||
      at_.base + at_.size - 1 > 0xFFFF'FFFFu) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "PL011 at 0x%x (+0x%x) is not addressable by Memory32Fixed", at_.base, at_.size));
  }
  VMMD_ASSIGN_OR_RETURN(const uint32_t spi, at_.RequireSpi("the PL011"));
  const uint32_t gsiv = core::aarch64::kSpiIntidBase + spi;
  using namespace acpi::aml;  // NOLINT(build/namespaces)
                              // clang-format off
  sb.Add(Device("COM0", {
      Name("_HID", String("ARMH0011")),
      Name("_UID", Zero()),
      Name("_CRS", ResourceTemplate({
          Memory32Fixed(static_cast<uint32_t>(at_.base), static_cast<uint32_t>(at_.size)),
          Interrupt({}, {gsiv}),
      })),
  }));
                              // clang-format on
  return absl::OkStatus();
}

}  // namespace vmmd::hw
