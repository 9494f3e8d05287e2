#include "acpi/tables/dsdt.h"

#include "acpi/tables/table_writer.h"
#include "core/common/status_macros.h"

namespace vmmd::acpi {

absl::StatusOr<std::vector<uint8_t>> BuildDsdt(absl::Span<const AmlDescribed* const> devices) {
  AmlScope sb("\\_SB");
  for (const AmlDescribed* device : devices) {
    if (device == nullptr) return absl::InvalidArgumentError("null DSDT device");
    VMMD_RETURN_IF_ERROR(device->DescribeAml(sb));
  }
  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> aml, sb.ToTerm().Encode());
  TableWriter w("DSDT", kDsdtRevision);
  w.Bytes(aml);
  return std::move(w).Finish();
}

}  // namespace vmmd::acpi
