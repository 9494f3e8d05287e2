#include "acpi/tables/gtdt.h"

#include "acpi/tables/table_writer.h"

namespace vmmd::acpi {

absl::StatusOr<std::vector<uint8_t>> BuildGtdt(const AcpiTimerGsivs& timers) {
  // Flags: bit 0 edge (0 = level), bit 1 active-low (0 = active-high), bit 2 always-on.
  constexpr uint32_t kFlags = kGtdtTimerAlwaysOn;
  TableWriter w("GTDT", kGtdtRevision);
  w.U64(~uint64_t{0});  // 36 CntControlBase Physical Address: none
  w.U32(0);             // 44 reserved
  w.U32(timers.secure_el1);
  w.U32(kFlags);
  w.U32(timers.non_secure_el1);
  w.U32(kFlags);
  w.U32(timers.virtual_el1);
  w.U32(kFlags);
  w.U32(timers.non_secure_el2);
  w.U32(kFlags);
  w.U64(~uint64_t{0});  // 80 CntReadBase Physical Address: none
  w.U32(0);             // 88 Platform Timer Count
  w.U32(0);             // 92 Platform Timer Offset
  w.U32(0);             // 96 Virtual EL2 Timer GSIV: not exposed
  w.U32(0);             // 100 Virtual EL2 Timer Flags
  return std::move(w).Finish();
}

}  // namespace vmmd::acpi
