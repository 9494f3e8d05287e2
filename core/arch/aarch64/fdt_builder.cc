#include "core/arch/aarch64/fdt_builder.h"

#include <libfdt.h>

#include <limits>
#include <set>
#include <string_view>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/common/status_macros.h"

namespace vmmd::core::aarch64 {
namespace {

constexpr uint64_t k64KiB = 0x1'0000;
constexpr uint64_t kRedistSize = 0x2'0000;  // RD_base + SGI_base frames

// PSCI function ids for the "arm,psci" (v0.1) entry of the compatible list; PSCI 0.2+ guests
// ignore them and use the standard ids.
constexpr uint32_t kPsciCpuSuspend64 = 0xC400'0001;
constexpr uint32_t kPsciCpuOff = 0x8400'0002;
constexpr uint32_t kPsciCpuOn64 = 0xC400'0003;
constexpr uint32_t kPsciMigrate64 = 0xC400'0005;

bool AddOverflows(uint64_t a, uint64_t b) { return a > std::numeric_limits<uint64_t>::max() - b; }

absl::Status Invalid(std::string_view message) {
  return absl::InvalidArgumentError(absl::StrFormat("board FDT: %s", message));
}

absl::Status ValidateCpusAndGic(const BoardFdtConfig& c) {
  if (c.cpu_mpidrs.empty()) return Invalid("no CPUs to describe (cpu_mpidrs is empty)");
  std::set<uint64_t> seen;
  for (uint64_t mpidr : c.cpu_mpidrs) {
    if (!seen.insert(MpidrToCpuReg(mpidr)).second) {
      return Invalid(absl::StrFormat("two CPUs share the affinity 0x%x (MPIDR 0x%x)",
                                     MpidrToCpuReg(mpidr), mpidr));
    }
  }
  if (c.gic_dist_base % k64KiB != 0 || AddOverflows(c.gic_dist_base, kGicDistSize)) {
    return Invalid(absl::StrFormat("GIC distributor base 0x%x is not 64 KiB aligned",
                                   c.gic_dist_base));
  }
  if (c.gic_redist_regions.empty()) return Invalid("no GIC redistributor regions");
  uint64_t total = 0;
  for (size_t i = 0; i < c.gic_redist_regions.size(); ++i) {
    const core::RedistributorRegion& r = c.gic_redist_regions[i];
    if (r.count == 0) return Invalid(absl::StrFormat("redistributor region %d is empty", i));
    if (r.base % k64KiB != 0 || AddOverflows(r.base, uint64_t{r.count} * kRedistSize)) {
      return Invalid(absl::StrFormat(
          "redistributor region %d at 0x%x (%d redistributors) is misaligned or wraps", i,
          r.base, r.count));
    }
    total += r.count;
  }
  if (total < c.cpu_mpidrs.size()) {
    return Invalid(absl::StrFormat("%d CPUs but only %d GIC redistributors",
                                   c.cpu_mpidrs.size(), total));
  }
  return absl::OkStatus();
}

absl::Status ValidateConfig(const BoardFdtConfig& c) {
  if (c.ram_size == 0) return Invalid("ram_size is 0");
  if (AddOverflows(c.ram_base, c.ram_size)) {
    return Invalid(absl::StrFormat("RAM 0x%x + 0x%x wraps the address space", c.ram_base,
                                   c.ram_size));
  }
  VMMD_RETURN_IF_ERROR(ValidateCpusAndGic(c));
  if (c.model.find('\0') != std::string::npos) return Invalid("model contains a NUL byte");
  if (c.cmdline.find('\0') != std::string::npos) return Invalid("cmdline contains a NUL byte");
  if (c.cmdline.size() > kMaxCmdlineLength) {
    return Invalid(absl::StrFormat("cmdline is %d bytes; the arm64 kernel keeps at most %d",
                                   c.cmdline.size(), kMaxCmdlineLength));
  }
  if (c.initrd.has_value()) {
    const FdtInitrd& rd = *c.initrd;
    if (rd.size == 0) return Invalid("initrd is empty");
    if (rd.start < c.ram_base || rd.size > c.ram_size ||
        rd.start - c.ram_base > c.ram_size - rd.size) {
      return Invalid(absl::StrFormat("initrd [0x%x, +0x%x) is not inside RAM [0x%x, +0x%x)",
                                     rd.start, rd.size, c.ram_base, c.ram_size));
    }
  }
  if (!c.stdout_path.empty() &&
      (c.stdout_path.front() != '/' || c.stdout_path.find('\0') != std::string::npos)) {
    return Invalid(absl::StrFormat("stdout_path \"%s\" is not an absolute node path",
                                   absl::CHexEscape(c.stdout_path)));
  }
  if (c.rng_seed.size() > kMaxRngSeedSize) {
    return Invalid(absl::StrFormat("rng_seed is %d bytes; at most %d", c.rng_seed.size(),
                                   kMaxRngSeedSize));
  }
  for (size_t i = 0; i < c.devices.size(); ++i) {
    if (c.devices[i] == nullptr) return Invalid(absl::StrFormat("device %d is null", i));
  }
  return absl::OkStatus();
}

uint32_t Ppi(uint32_t intid) { return intid - kPpiIntidBase; }

absl::Status AddMemory(FdtWriter& fdt, const BoardFdtConfig& c) {
  VMMD_RETURN_IF_ERROR(fdt.BeginNode(absl::StrFormat("memory@%x", c.ram_base)));
  VMMD_RETURN_IF_ERROR(fdt.PropString("device_type", "memory"));
  const std::pair<uint64_t, uint64_t> reg[] = {{c.ram_base, c.ram_size}};
  VMMD_RETURN_IF_ERROR(fdt.PropReg("reg", reg));
  return fdt.EndNode();
}

// cpus/#address-cells is 1 unless some CPU has a non-zero Aff3 (the arm cpus binding).
absl::Status AddCpus(FdtWriter& fdt, const BoardFdtConfig& c) {
  bool two_cells = false;
  for (uint64_t mpidr : c.cpu_mpidrs) two_cells |= (MpidrToCpuReg(mpidr) >> 32) != 0;
  VMMD_RETURN_IF_ERROR(fdt.BeginNode("cpus"));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("#address-cells", two_cells ? 2 : 1));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("#size-cells", 0));
  for (uint64_t mpidr : c.cpu_mpidrs) {
    const uint64_t reg = MpidrToCpuReg(mpidr);
    VMMD_RETURN_IF_ERROR(fdt.BeginNode(absl::StrFormat("cpu@%x", reg)));
    VMMD_RETURN_IF_ERROR(fdt.PropString("device_type", "cpu"));
    VMMD_RETURN_IF_ERROR(fdt.PropString("compatible", "arm,armv8"));
    VMMD_RETURN_IF_ERROR(fdt.PropString("enable-method", "psci"));
    VMMD_RETURN_IF_ERROR(two_cells ? fdt.PropU64("reg", reg)
                                   : fdt.PropU32("reg", static_cast<uint32_t>(reg)));
    VMMD_RETURN_IF_ERROR(fdt.EndNode());
  }
  return fdt.EndNode();
}

absl::Status AddPsci(FdtWriter& fdt) {
  VMMD_RETURN_IF_ERROR(fdt.BeginNode("psci"));
  VMMD_RETURN_IF_ERROR(fdt.PropStrings("compatible", {"arm,psci-1.0", "arm,psci-0.2", "arm,psci"}));
  VMMD_RETURN_IF_ERROR(fdt.PropString("method", "hvc"));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("cpu_suspend", kPsciCpuSuspend64));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("cpu_off", kPsciCpuOff));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("cpu_on", kPsciCpuOn64));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("migrate", kPsciMigrate64));
  return fdt.EndNode();
}

absl::Status AddGic(FdtWriter& fdt, const BoardFdtConfig& c) {
  VMMD_RETURN_IF_ERROR(fdt.BeginNode(absl::StrFormat("intc@%x", c.gic_dist_base)));
  VMMD_RETURN_IF_ERROR(fdt.PropString("compatible", "arm,gic-v3"));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("#interrupt-cells", 3));
  VMMD_RETURN_IF_ERROR(fdt.PropEmpty("interrupt-controller"));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("#address-cells", kGicFdtAddressCells));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("#size-cells", 2));
  VMMD_RETURN_IF_ERROR(fdt.PropEmpty("ranges"));
  std::vector<std::pair<uint64_t, uint64_t>> reg = {{c.gic_dist_base, kGicDistSize}};
  for (const core::RedistributorRegion& r : c.gic_redist_regions) {
    reg.emplace_back(r.base, uint64_t{r.count} * kRedistSize);
  }
  VMMD_RETURN_IF_ERROR(fdt.PropReg("reg", reg));
  VMMD_RETURN_IF_ERROR(
      fdt.PropU32("#redistributor-regions", static_cast<uint32_t>(c.gic_redist_regions.size())));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("phandle", kPhandleGic));
  return fdt.EndNode();
}

// The binding's interrupts are positional: secure phys, non-secure phys, virt, hyp phys, hyp
// virt. An EL1 guest uses the virtual timer (entry 2).
absl::Status AddTimer(FdtWriter& fdt) {
  VMMD_RETURN_IF_ERROR(fdt.BeginNode("timer"));
  VMMD_RETURN_IF_ERROR(fdt.PropString("compatible", "arm,armv8-timer"));
  std::vector<uint32_t> cells;
  for (uint32_t intid :
       {kSecurePtimerIntid, kPtimerIntid, kVtimerIntid, kHypPtimerIntid, kHypVtimerIntid}) {
    cells.insert(cells.end(), {kFdtIrqTypePpi, Ppi(intid), kFdtIrqLevelHigh});
  }
  VMMD_RETURN_IF_ERROR(fdt.PropCells("interrupts", cells));
  VMMD_RETURN_IF_ERROR(fdt.PropEmpty("always-on"));
  return fdt.EndNode();
}

absl::Status AddPmu(FdtWriter& fdt) {
  VMMD_RETURN_IF_ERROR(fdt.BeginNode("pmu"));
  VMMD_RETURN_IF_ERROR(fdt.PropString("compatible", "arm,armv8-pmuv3"));
  VMMD_RETURN_IF_ERROR(
      fdt.PropCells("interrupts", {kFdtIrqTypePpi, Ppi(kPmuIntid), kFdtIrqLevelHigh}));
  return fdt.EndNode();
}

absl::Status AddApbClock(FdtWriter& fdt) {
  VMMD_RETURN_IF_ERROR(fdt.BeginNode("apb-pclk"));
  VMMD_RETURN_IF_ERROR(fdt.PropString("compatible", "fixed-clock"));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("#clock-cells", 0));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("clock-frequency", kApbClockHz));
  VMMD_RETURN_IF_ERROR(fdt.PropString("clock-output-names", "clk24mhz"));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("phandle", kPhandleApbClock));
  return fdt.EndNode();
}

absl::Status AddDevices(FdtWriter& fdt, const BoardFdtConfig& c) {
  for (size_t i = 0; i < c.devices.size(); ++i) {
    absl::Status s = c.devices[i]->DescribeFdt(fdt);
    if (s.ok() && fdt.depth() != 0) {
      s = absl::FailedPreconditionError(
          absl::StrFormat("left %d node(s) open", fdt.depth()));
    }
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrFormat("board FDT: device %d: %s", i, s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status AddChosen(FdtWriter& fdt, const BoardFdtConfig& c) {
  VMMD_RETURN_IF_ERROR(fdt.BeginNode("chosen"));
  VMMD_RETURN_IF_ERROR(fdt.PropString("bootargs", c.cmdline));
  if (c.initrd.has_value()) {
    VMMD_RETURN_IF_ERROR(fdt.PropU64("linux,initrd-start", c.initrd->start));
    VMMD_RETURN_IF_ERROR(fdt.PropU64("linux,initrd-end", c.initrd->start + c.initrd->size));
  }
  if (!c.stdout_path.empty()) VMMD_RETURN_IF_ERROR(fdt.PropString("stdout-path", c.stdout_path));
  if (!c.rng_seed.empty()) VMMD_RETURN_IF_ERROR(fdt.PropBytes("rng-seed", c.rng_seed));
  if (c.kaslr_seed.has_value()) VMMD_RETURN_IF_ERROR(fdt.PropU64("kaslr-seed", *c.kaslr_seed));
  return fdt.EndNode();
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> BuildBoardFdt(const BoardFdtConfig& config) {
  VMMD_RETURN_IF_ERROR(ValidateConfig(config));
  // A buffer of the arm64 limit: a tree that does not fit is one the kernel would refuse.
  FdtWriter fdt(kFdtMaxSize);
  VMMD_RETURN_IF_ERROR(fdt.PropString("compatible", "linux,dummy-virt"));
  VMMD_RETURN_IF_ERROR(fdt.PropString("model", config.model));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("#address-cells", 2));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("#size-cells", 2));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("interrupt-parent", kPhandleGic));
  VMMD_RETURN_IF_ERROR(AddMemory(fdt, config));
  VMMD_RETURN_IF_ERROR(AddCpus(fdt, config));
  VMMD_RETURN_IF_ERROR(AddPsci(fdt));
  VMMD_RETURN_IF_ERROR(AddGic(fdt, config));
  VMMD_RETURN_IF_ERROR(AddTimer(fdt));
  if (config.pmu) VMMD_RETURN_IF_ERROR(AddPmu(fdt));
  VMMD_RETURN_IF_ERROR(AddApbClock(fdt));
  VMMD_RETURN_IF_ERROR(AddDevices(fdt, config));
  VMMD_RETURN_IF_ERROR(AddChosen(fdt, config));
  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, fdt.Finish());
  blob.shrink_to_fit();
  // Informational only (arm64 Linux finds the boot CPU through MPIDR_EL1), but keep it true.
  fdt_set_boot_cpuid_phys(blob.data(),
                          static_cast<uint32_t>(MpidrToCpuReg(config.cpu_mpidrs.front())));
  return blob;
}

}  // namespace vmmd::core::aarch64
