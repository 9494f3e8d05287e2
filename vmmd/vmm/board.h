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
//   (0x0A00_0000 and up: reserved for virtio-mmio transports)
//
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

}  // namespace board

// Every row, in DT-node and DSDT-object order.
inline constexpr const BoardDevice* kBoardDevices[] = {
    &board::kPl011,  &board::kPl031,      &board::kFwCfg, &board::kFlash0,
    &board::kFlash1, &board::kCpuHotplug, &board::kGed,
};

}  // namespace vmmd::vmm
