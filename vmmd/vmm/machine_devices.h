// The devices of a Machine (private to core/vm/machine*.cc).
#pragma once

#include <memory>

#include "acpi/pl011_aml.h"
#include "hw/cpu_hotplug/cpu_hotplug.h"
#include "hw/flash/cfi_flash.h"
#include "hw/fw_cfg/fw_cfg.h"
#include "hw/ged/ged.h"
#include "hw/pl011/console_log.h"
#include "hw/pl011/pl011.h"
#include "hw/pl031/pl031.h"
#include "vmmd/vmm/machine.h"
#include "vmmd/vmm/spi_irq_line.h"

namespace vmmd::vmm {

struct Machine::Devices {
  std::unique_ptr<hw::ConsoleLog> console;
  std::unique_ptr<SpiIrqLine> uart_irq;
  std::unique_ptr<SpiIrqLine> rtc_irq;
  std::shared_ptr<hw::Pl011> uart;
  std::shared_ptr<hw::Pl031> rtc;
  // Firmware boot only.
  std::shared_ptr<hw::CfiFlash> flash0;
  std::shared_ptr<hw::CfiFlash> flash1;
  std::shared_ptr<hw::FwCfg> fw_cfg;
  std::unique_ptr<SpiIrqLine> ged_irq;
  std::shared_ptr<hw::Ged> ged;
  std::shared_ptr<hw::CpuHotplug> cpu_hotplug;
  std::unique_ptr<acpi::Pl011Aml> uart_aml;
  std::unique_ptr<hw::CfiFlashBanksNode> flash_node;
};

}  // namespace vmmd::vmm
