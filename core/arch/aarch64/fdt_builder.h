// The board device tree for direct kernel boot: root, memory, cpus, psci, GICv3, arch timer,
// optional PMU, the 24 MHz APB clock, chosen, and one node per FdtDescribed device.
//
// Shape (QEMU-virt compatible where Linux looks):
//   / { compatible = "linux,dummy-virt"; #address-cells = #size-cells = <2>;
//       interrupt-parent = <kPhandleGic>;
//     memory@<ram_base>, cpus { cpu@<affinity> ... }, psci, intc@<dist_base>, timer, pmu,
//     apb-pclk, <devices>, chosen }
//
// The GIC node carries #address-cells = #size-cells = <2> and an empty `ranges` (as QEMU's does,
// for a future ITS child). Anyone writing an `interrupt-map` whose parent is the GIC must
// therefore put kGicFdtAddressCells zero cells of parent unit address in every row.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/arch/aarch64/fdt_writer.h"
#include "core/arch/aarch64/layout.h"
#include "core/hypervisor/hypervisor.h"

namespace vmmd::core::aarch64 {

inline constexpr uint32_t kGicFdtAddressCells = 2;
// arm64 COMMAND_LINE_SIZE is 2048 including the terminating NUL; Linux silently truncates a
// longer /chosen/bootargs, so a longer command line is rejected here instead.
inline constexpr size_t kMaxCmdlineLength = 2047;
inline constexpr size_t kMaxRngSeedSize = 4096;
inline constexpr uint32_t kApbClockHz = 24'000'000;

struct FdtInitrd {
  uint64_t start = 0;  // guest physical
  uint64_t size = 0;   // bytes; linux,initrd-end = start + size (exclusive)
};

struct BoardFdtConfig {
  uint64_t ram_base = kRamBase;
  uint64_t ram_size = 0;
  // MPIDR_EL1 of every vCPU to describe, as KVM reports it (bit 31 set is fine: only the
  // affinity fields Aff3..Aff0 become `reg`). The first entry is the boot CPU.
  std::vector<uint64_t> cpu_mpidrs;
  uint64_t gic_dist_base = kGicDistBase;
  // In KVM registration order; every region holds `count` redistributors of 128 KiB. Sized for
  // all possible vCPUs, so the total may exceed cpu_mpidrs.size().
  std::vector<core::RedistributorRegion> gic_redist_regions;
  bool pmu = false;  // arm,armv8-pmuv3 with PPI kPmuIntid - 16
  std::string model = "vmmd KVM arm64 virtual machine";
  std::string cmdline;                 // /chosen/bootargs (always emitted, may be empty)
  std::optional<FdtInitrd> initrd;     // /chosen/linux,initrd-{start,end} as u64
  std::string stdout_path;             // /chosen/stdout-path, e.g. "/pl011@9000000"; "" = none
  std::vector<uint8_t> rng_seed;       // /chosen/rng-seed; empty = none
  std::optional<uint64_t> kaslr_seed;  // /chosen/kaslr-seed
  // Each appends its own node(s) inside the root; not owned, must outlive the call.
  std::vector<const FdtDescribed*> devices;
};

// Validates `config` (INVALID_ARGUMENT naming the bad field) and returns the packed DTB (at most
// kFdtMaxSize bytes, else RESOURCE_EXHAUSTED). The header's boot_cpuid_phys is the boot CPU's
// affinity. Errors from a device's DescribeFdt are returned with the device's index prepended.
absl::StatusOr<std::vector<uint8_t>> BuildBoardFdt(const BoardFdtConfig& config);

// MPIDR_EL1 → the `reg` value of its cpu node: Aff3 (bits 39:32) and Aff2..Aff0 (bits 23:0).
constexpr uint64_t MpidrToCpuReg(uint64_t mpidr) { return mpidr & kMpidrAffinityMask; }

}  // namespace vmmd::core::aarch64
