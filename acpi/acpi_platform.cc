#include "acpi/acpi_platform.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"

namespace vmmd::acpi {

absl::Status ValidateAcpiPlatform(const AcpiPlatform& platform) {
  const size_t n = platform.cpus.size();
  if (n == 0 || n > kMaxAcpiCpus) {
    return absl::InvalidArgumentError(
        absl::StrFormat("ACPI platform has %u possible vCPUs (1..%u)", n, kMaxAcpiCpus));
  }
  bool any_boot = false;
  absl::flat_hash_set<uint64_t> mpidrs;
  for (size_t i = 0; i < n; ++i) {
    const AcpiCpu& cpu = platform.cpus[i];
    any_boot = any_boot || cpu.boot;
    if (!mpidrs.insert(cpu.mpidr & kAcpiMpidrMask).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("vCPU %u: MPIDR 0x%x has the affinity of an earlier vCPU", i, cpu.mpidr));
    }
  }
  if (!any_boot) return absl::InvalidArgumentError("ACPI platform has no boot vCPU");

  uint64_t redistributors = 0;
  for (size_t i = 0; i < platform.gic_redist_regions.size(); ++i) {
    const AcpiRedistRegion& r = platform.gic_redist_regions[i];
    if (r.count == 0 || r.count * kGicRedistributorStride > 0xFFFF'FFFFu) {
      return absl::InvalidArgumentError(
          absl::StrFormat("redistributor region %u holds %u redistributors (1..%u)", i, r.count,
                          0xFFFF'FFFFu / kGicRedistributorStride));
    }
    redistributors += r.count;
  }
  if (redistributors < n) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "redistributor regions hold %u redistributors for %u possible vCPUs", redistributors, n));
  }
  for (const AmlDescribed* device : platform.dsdt_devices) {
    if (device == nullptr) return absl::InvalidArgumentError("null DSDT device");
  }
  return absl::OkStatus();
}

}  // namespace vmmd::acpi
