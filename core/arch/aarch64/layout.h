// The fixed part of a vmmd arm64 VM's guest-physical map — RAM and the GIC — and the
// architecture's interrupt numbering and boot rules. QEMU-virt compatible, so stock edk2
// ArmVirtQemu boots unmodified. The device slots (flash, UART, RTC, fw_cfg, GED, CPU hotplug)
// are the board's, in vmmd/vmm/board.h.
//
//   0x0800_0000  GICv3 distributor                           64 KiB
//   0x080A_0000  GICv3 redistributors, 128 KiB per vCPU      up to 123 vCPUs
//   0x4000_0000  RAM                                         up to kMaxRamSize
//   0x40_0000_0000 (256 GiB) second redistributor region     vCPUs beyond the first region
#pragma once

#include <cstdint>

namespace vmmd::core::aarch64 {

inline constexpr uint64_t kGicDistBase = 0x0800'0000;
inline constexpr uint64_t kGicDistSize = 0x1'0000;
inline constexpr uint64_t kGicRedistBase = 0x080A'0000;
inline constexpr uint64_t kGicRedistRegionSize = 0x00F6'0000;  // up to 0x0900_0000
inline constexpr uint64_t kGicRedistStride = 0x2'0000;         // two 64 KiB frames per vCPU
inline constexpr uint32_t kGicRedistRegion0Count =
    static_cast<uint32_t>(kGicRedistRegionSize / kGicRedistStride);  // 123
inline constexpr uint64_t kGicRedistHighBase = 0x40'0000'0000;

inline constexpr uint64_t kRamBase = 0x4000'0000;
// RAM must end below the high redistributor region.
inline constexpr uint64_t kMaxRamSize = kGicRedistHighBase - kRamBase;

// Interrupt numbers. INTID = 16 + PPI, 32 + SPI.
inline constexpr uint32_t kNrIrqs = 256;  // SGIs + PPIs + 224 SPIs
inline constexpr uint32_t kVtimerIntid = 27;
inline constexpr uint32_t kPtimerIntid = 30;
inline constexpr uint32_t kHypVtimerIntid = 28;
inline constexpr uint32_t kHypPtimerIntid = 26;
inline constexpr uint32_t kPmuIntid = 23;
// The secure physical timer: listed first in the DT timer node (the binding is positional); a
// non-secure guest never uses it.
inline constexpr uint32_t kSecurePtimerIntid = 29;
inline constexpr uint32_t kSpiIntidBase = 32;
inline constexpr uint32_t kPpiIntidBase = 16;

// Direct kernel boot (Linux Documentation/arch/arm64/booting.rst): the Image sits text_offset
// bytes above a 2 MiB-aligned base; the DTB is 8-byte aligned and at most 2 MiB.
inline constexpr uint64_t kKernelBaseAlign = 0x20'0000;
inline constexpr uint64_t kFdtMaxSize = 0x20'0000;
inline constexpr uint64_t kFdtAlign = 8;

// KVM's MPIDR for a vCPU id (Aff0 = id & 0xf, Aff1 = (id >> 4) & 0xff, Aff2 = (id >> 12) & 0xff).
// The VMM reads the real value back from KVM; this is for tests and sanity checks only.
inline constexpr uint64_t kMpidrAffinityMask = 0xff'00ff'ffffULL;

}  // namespace vmmd::core::aarch64
