#include "acpi/tables/xsdt.h"

#include "acpi/tables/table_writer.h"

namespace vmmd::acpi {

absl::StatusOr<std::vector<uint8_t>> BuildXsdt(absl::Span<const uint64_t> table_addresses) {
  TableWriter w("XSDT", 1);
  for (uint64_t address : table_addresses) w.U64(address);
  return std::move(w).Finish();
}

}  // namespace vmmd::acpi
