// The guest physical memory map and interrupt assignments of a vmmd arm64 VM. QEMU-virt
// compatible where the firmware cares (flash, GIC, UART, RTC, fw_cfg, RAM base), so stock edk2
// ArmVirtQemu boots unmodified.
//
//   0x0000_0000  flash0: firmware code (read-only)          64 MiB
//   0x0400_0000  flash1: UEFI variables (CFI)                64 MiB
//   0x0800_0000  GICv3 distributor                           64 KiB
//   0x080A_0000  GICv3 redistributors, 128 KiB per vCPU      up to 123 vCPUs
//   0x0900_0000  PL011 UART (console)                        SPI 1
//   0x0901_0000  PL031 RTC                                   SPI 2
//   0x0902_0000  fw_cfg (MMIO + DMA)                         0x18 bytes
//   0x0908_0000  ACPI GED event register                     SPI 9
//   0x090C_0000  CPU hotplug register block                  12 bytes
//   0x0A00_0000  virtio-mmio transports, 0x200 each          SPI 16+
//   0x4000_0000  RAM                                         up to kMaxRamSize
//   0x40_0000_0000 (256 GiB) second redistributor region     vCPUs beyond the first region
#pragma once

#include <cstdint>

namespace vmmd::core::aarch64 {

inline constexpr uint64_t kFlash0Base = 0x0000'0000;
inline constexpr uint64_t kFlashBankSize = 0x0400'0000;
inline constexpr uint64_t kFlash1Base = 0x0400'0000;

inline constexpr uint64_t kGicDistBase = 0x0800'0000;
inline constexpr uint64_t kGicDistSize = 0x1'0000;
inline constexpr uint64_t kGicRedistBase = 0x080A'0000;
inline constexpr uint64_t kGicRedistRegionSize = 0x00F6'0000;  // up to 0x0900_0000
inline constexpr uint64_t kGicRedistStride = 0x2'0000;         // two 64 KiB frames per vCPU
inline constexpr uint32_t kGicRedistRegion0Count =
    static_cast<uint32_t>(kGicRedistRegionSize / kGicRedistStride);  // 123
inline constexpr uint64_t kGicRedistHighBase = 0x40'0000'0000;

inline constexpr uint64_t kUartBase = 0x0900'0000;
inline constexpr uint64_t kUartSize = 0x1000;
inline constexpr uint32_t kUartSpi = 1;
inline constexpr uint64_t kRtcBase = 0x0901'0000;
inline constexpr uint64_t kRtcSize = 0x1000;
inline constexpr uint32_t kRtcSpi = 2;
inline constexpr uint64_t kFwCfgBase = 0x0902'0000;
inline constexpr uint64_t kFwCfgSize = 0x18;
inline constexpr uint64_t kGedBase = 0x0908'0000;
inline constexpr uint32_t kGedSpi = 9;
inline constexpr uint64_t kCpuHotplugBase = 0x090C'0000;
inline constexpr uint64_t kVirtioMmioBase = 0x0A00'0000;
inline constexpr uint64_t kVirtioMmioStride = 0x200;
inline constexpr uint32_t kVirtioMmioFirstSpi = 16;

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
