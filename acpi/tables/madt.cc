#include "acpi/tables/madt.h"

#include "acpi/tables/table_writer.h"

namespace vmmd::acpi {
namespace {

constexpr uint8_t kTypeGicc = 0x0B;
constexpr uint8_t kTypeGicd = 0x0C;
constexpr uint8_t kTypeGicr = 0x0E;
constexpr uint8_t kGicVersion3 = 3;

}  // namespace

absl::StatusOr<std::vector<uint8_t>> BuildMadt(const AcpiPlatform& platform) {
  TableWriter w("APIC", kMadtRevision);
  w.U32(0);  // Local Interrupt Controller Address: none on GIC systems
  w.U32(0);  // Flags: not PC-AT compatible

  w.U8(kTypeGicd);
  w.U8(kMadtGicdSize);
  w.U16(0);  // reserved
  w.U32(0);  // GIC ID
  w.U64(platform.gic_dist_base);
  w.U32(0);  // System Vector Base: must be 0
  w.U8(kGicVersion3);
  w.Zeros(3);

  const uint32_t perf_gsiv = platform.pmu ? platform.pmu_gsiv : 0;
  for (size_t i = 0; i < platform.cpus.size(); ++i) {
    const AcpiCpu& cpu = platform.cpus[i];
    w.U8(kTypeGicc);
    w.U8(kMadtGiccSize);
    w.U16(0);                         // reserved
    w.U32(static_cast<uint32_t>(i));  // CPU Interface Number
    w.U32(static_cast<uint32_t>(i));  // ACPI Processor UID
    w.U32(cpu.boot ? kGiccFlagEnabled : kGiccFlagOnlineCapable);
    w.U32(0);                           // Parking Protocol Version
    w.U32(perf_gsiv);                   // Performance Interrupt GSIV
    w.U64(0);                           // Parked Address
    w.U64(0);                           // Physical Base Address (GICv2 CPU interface)
    w.U64(0);                           // GICV
    w.U64(0);                           // GICH
    w.U32(0);                           // VGIC Maintenance interrupt: no EL2 for the guest
    w.U64(0);                           // GICR Base Address: see the GICR entries
    w.U64(cpu.mpidr & kAcpiMpidrMask);  // MPIDR
    w.U8(0);                            // Processor Power Efficiency Class
    w.U8(0);                            // reserved
    w.U16(0);                           // SPE overflow interrupt
  }

  for (const AcpiRedistRegion& region : platform.gic_redist_regions) {
    w.U8(kTypeGicr);
    w.U8(kMadtGicrSize);
    w.U16(0);  // reserved
    w.U64(region.base);
    w.U32(static_cast<uint32_t>(region.count * kGicRedistributorStride));
  }
  return std::move(w).Finish();
}

}  // namespace vmmd::acpi
