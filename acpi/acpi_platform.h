// What the ACPI tables describe: the possible vCPUs, the GIC, the timers, the console and the
// devices that contribute DSDT objects. Plain data with no board defaults: the composition root
// fills every field from the board (acpi/ itself depends on nothing in core but core/common).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "acpi/aml_described.h"

namespace vmmd::acpi {

// Device names in the DSDT are C000..CFFF; vmmd's own ceiling (512) is lower.
inline constexpr uint32_t kMaxAcpiCpus = 4096;
// GICv3 without VLPIs: two 64 KiB frames per redistributor.
inline constexpr uint64_t kGicRedistributorStride = 0x2'0000;
// The MPIDR bits a GICC entry carries (Aff3, Aff2, Aff1, Aff0); the others (bit 31 RES1, U, MT)
// are dropped: Linux ignores a GICC whose MPIDR has any of them set.
inline constexpr uint64_t kAcpiMpidrMask = 0xff'00ff'ffffULL;

// One possible vCPU. Its index in AcpiPlatform::cpus is its ACPI Processor UID, its GICC CPU
// interface number and its DSDT _UID.
struct AcpiCpu {
  uint64_t mpidr = 0;  // MPIDR_EL1 as KVM assigned it (masked with kAcpiMpidrMask)
  bool boot = false;   // MADT Enabled (permanent); otherwise Online-Capable, toggled via _STA
};

// One KVM redistributor region: `count` redistributors of kGicRedistributorStride bytes.
struct AcpiRedistRegion {
  uint64_t base = 0;
  uint32_t count = 0;
};

// Generic timer interrupts (GSIV = INTID), all level-triggered, active-high, always-on.
struct AcpiTimerGsivs {
  uint32_t secure_el1 = 0;
  uint32_t non_secure_el1 = 0;
  uint32_t virtual_el1 = 0;
  uint32_t non_secure_el2 = 0;
};

// The PL011 console (SPCR).
struct AcpiConsole {
  uint64_t base = 0;
  uint32_t gsiv = 0;
};

struct AcpiPlatform {
  std::vector<AcpiCpu> cpus;  // every possible vCPU, in vCPU-id order
  uint64_t gic_dist_base = 0;
  std::vector<AcpiRedistRegion> gic_redist_regions;  // must cover every possible vCPU
  bool pmu = false;        // a PMU is exposed: GICC performance interrupt = pmu_gsiv
  uint32_t pmu_gsiv = 0;   // e.g. 23 (PPI 7)
  AcpiTimerGsivs timers;
  AcpiConsole console;
  // Not owned; each must outlive BuildAcpiTables(). Their objects go into `\_SB` in this
  // order (put the CPU hotplug block before the GED whose _EVT calls into it, so disassemblers
  // meet the method before its first call).
  std::vector<const AmlDescribed*> dsdt_devices;
};

// INVALID_ARGUMENT naming the problem: no CPUs or more than kMaxAcpiCpus, no boot CPU, two
// CPUs with the same affinity (MPIDR & kAcpiMpidrMask), redistributor regions that are empty,
// too large for a GICR entry or that do not cover every CPU, a null DSDT device.
absl::Status ValidateAcpiPlatform(const AcpiPlatform& platform);

}  // namespace vmmd::acpi
