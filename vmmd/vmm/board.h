// The board: one row per device slot of a vmmd arm64 VM — its name, guest-physical window and
// interrupt. The only place a device's address and SPI are written; the device table
// (device_table.h) gives each device its row, and the bus map, the device tree and the DSDT are
// derived from the table. QEMU-virt compatible where the firmware and Linux care, so stock edk2
// (ArmVirtQemu) boots unmodified. RAM and the GIC are fixed by core/arch/aarch64/layout.h.
//
//   row          base          size        SPI  exists       DT node          DSDT
//   pl011        0x0900_0000   4 KiB       1    always       pl011@9000000    COM0 (ARMH0011)
//   pl031        0x0901_0000   4 KiB       2    always       pl031@9010000    -
//   fw_cfg       0x0902_0000   0x18        -    firmware     fw-cfg@9020000   -
//   flash0       0x0000_0000   64 MiB      -    firmware     flash@0 (both banks, QEMU's form)
//   flash1       0x0400_0000   64 MiB      -    firmware     (in flash@0)     -
//   cpu_hotplug  0x090C_0000   12 bytes    -    firmware     -                PRES, CPUS, Cxxx
//   ged          0x0908_0000   4 bytes     9    firmware     -                GED (ACPI0013)
//   virtio0..15  0x0A00_0000   0x200 each  16+  spec devices virtio_mmio@... VR00..VR15 (LNRO0005)
//                + 0x200 * n               (n)
//
// The virtio transports are where QEMU's virt machine has them (edk2 and Linux find them by
// the DT node or the DSDT object, not by address). Their interrupts are raised by the VM's I/O
// thread through an irqfd (`irqfd`), the other rows' by a KVM_IRQ_LINE from the device.
// The order of kBoardDevices is the order of the DT nodes and of the DSDT objects (the
// CPU-hotplug block precedes the GED whose _EVT calls into it).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/bus/device_placement.h"
#include "hw/cpu_hotplug/cpu_hotplug_regs.h"
#include "hw/fw_cfg/fw_cfg.h"
#include "hw/ged/ged.h"

namespace vmmd::vmm {

struct BoardDevice {
  std::string_view name;  // also its name on the bus and in logs
  uint64_t base = 0;
  uint64_t size = 0;
  std::optional<uint32_t> spi = std::nullopt;
  bool irqfd = false;  // the interrupt is an eventfd KVM turns into an edge (KVM_IRQFD)

  core::DevicePlacement placement() const { return {.base = base, .size = size, .spi = spi}; }
};

namespace board {

inline constexpr uint64_t kFlashBankSize = 64ull << 20;

inline constexpr BoardDevice kPl011{.name = "pl011", .base = 0x0900'0000, .size = 0x1000, .spi = 1};
inline constexpr BoardDevice kPl031{.name = "pl031", .base = 0x0901'0000, .size = 0x1000, .spi = 2};
inline constexpr BoardDevice kFwCfg{
    .name = "fw_cfg", .base = 0x0902'0000, .size = hw::fw_cfg::kRegisterSize};
inline constexpr BoardDevice kFlash0{.name = "flash0", .base = 0x0000'0000, .size = kFlashBankSize};
inline constexpr BoardDevice kFlash1{.name = "flash1", .base = 0x0400'0000, .size = kFlashBankSize};
inline constexpr BoardDevice kCpuHotplug{
    .name = "cpu-hotplug", .base = 0x090C'0000, .size = hw::cpu_hotplug::kBlockSize};
inline constexpr BoardDevice kGed{
    .name = "ged", .base = 0x0908'0000, .size = hw::ged::kRegionSize, .spi = 9};

inline constexpr uint32_t kVirtioSlots = 16;
inline constexpr uint64_t kVirtioBase = 0x0A00'0000;
inline constexpr uint64_t kVirtioStride = 0x200;
inline constexpr uint32_t kVirtioFirstSpi = 16;

// Names for the rows below (std::string_view needs storage that outlives it).
inline constexpr std::string_view kVirtioNames[kVirtioSlots] = {
    "virtio0", "virtio1", "virtio2",  "virtio3",  "virtio4",  "virtio5",  "virtio6",  "virtio7",
    "virtio8", "virtio9", "virtio10", "virtio11", "virtio12", "virtio13", "virtio14", "virtio15"};

constexpr BoardDevice VirtioRow(uint32_t n) {
  return BoardDevice{.name = kVirtioNames[n],
                     .base = kVirtioBase + kVirtioStride * n,
                     .size = kVirtioStride,
                     .spi = kVirtioFirstSpi + n,
                     .irqfd = true};
}
inline constexpr BoardDevice kVirtio[kVirtioSlots] = {
    VirtioRow(0),  VirtioRow(1),  VirtioRow(2),  VirtioRow(3), VirtioRow(4),  VirtioRow(5),
    VirtioRow(6),  VirtioRow(7),  VirtioRow(8),  VirtioRow(9), VirtioRow(10), VirtioRow(11),
    VirtioRow(12), VirtioRow(13), VirtioRow(14), VirtioRow(15)};

}  // namespace board

// Every row, in DT-node and DSDT-object order.
inline constexpr const BoardDevice* kBoardDevices[] = {
    &board::kPl011,      &board::kPl031,      &board::kFwCfg,      &board::kFlash0,
    &board::kFlash1,     &board::kCpuHotplug, &board::kGed,        &board::kVirtio[0],
    &board::kVirtio[1],  &board::kVirtio[2],  &board::kVirtio[3],  &board::kVirtio[4],
    &board::kVirtio[5],  &board::kVirtio[6],  &board::kVirtio[7],  &board::kVirtio[8],
    &board::kVirtio[9],  &board::kVirtio[10], &board::kVirtio[11], &board::kVirtio[12],
    &board::kVirtio[13], &board::kVirtio[14], &board::kVirtio[15],
};

}  // namespace vmmd::vmm
