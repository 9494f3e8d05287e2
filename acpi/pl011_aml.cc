#include "acpi/pl011_aml.h"

#include "absl/strings/str_format.h"

namespace vmmd::acpi {

absl::Status Pl011Aml::DescribeAml(AmlScope& sb) const {
  if (base_ > 0xFFFF'FFFFu || size_ == 0 || base_ + size_ - 1 > 0xFFFF'FFFFu) {
    return absl::InvalidArgumentError(
        absl::StrFormat("PL011 at 0x%x (+0x%x) is not addressable by Memory32Fixed", base_, size_));
  }
  using namespace aml;  // NOLINT(build/namespaces)
                        // clang-format off
  sb.Add(Device("COM0", {
      Name("_HID", String("ARMH0011")),
      Name("_UID", Zero()),
      Name("_CRS", ResourceTemplate({
          Memory32Fixed(static_cast<uint32_t>(base_), size_),
          Interrupt({}, {gsiv_}),
      })),
  }));
                        // clang-format on
  return absl::OkStatus();
}

}  // namespace vmmd::acpi
