// ACPI Generic Event Device (ACPI 6.5 section 5.6.9; QEMU's layout; what Linux expects: README.md).
//
// MMIO: one 32-bit register, ESEL, at offset 0. A DWORD read returns the pending event bitmap
// and clears it; writes are ignored. Any other access (another size or offset) reads 0, is
// ignored and is counted.
//
// Events: RaiseEvent(bits) ORs `bits` into ESEL and pulses the interrupt (edge). The guest's
// evged driver then runs _EVT, which reads ESEL once and, for every configured handler whose
// bit is set, calls the handler's AML method (e.g. \_SB.CPUS.CSCN for CPU hotplug).
//
// AML (DescribeAml), under \_SB:
//   Device (GED) { _HID "ACPI0013", _UID 0,
//     _CRS Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {gsiv},
//     OperationRegion (EREG, SystemMemory, base, 4), Field ESEL (DWordAcc),
//     Method (_EVT, 1, Serialized) { Local0 = ESEL; If ((Local0 & bit) == bit) { method () } ... }
//     }
// and, when built with `power_button`, the ACPI power button it signals (Linux's button driver
// turns Notify 0x80 on PNP0C0C into KEY_POWER; systemd-logind or acpid then power off):
//   Device (PWRB) { _HID "PNP0C0C", _UID 0 }
//   ... in _EVT: If ((Local0 & 0x2) == 0x2) { Notify (\_SB.PWRB, 0x80) }
//
// Thread safety: all methods may be called concurrently. The IrqLine is pulsed without the
// device lock held.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "acpi/aml_described.h"
#include "core/bus/bus_device.h"
#include "core/bus/device_placement.h"
#include "core/bus/irq_line.h"

namespace vmmd::hw {
namespace ged {

inline constexpr uint64_t kEselOffset = 0;
inline constexpr uint64_t kRegionSize = 4;

// Event bits (QEMU's numbering).
inline constexpr uint32_t kEventPowerButton = 1u << 1;
inline constexpr uint32_t kEventCpuHotplug = 1u << 3;

// The power button the GED signals (constructed with `power_button`), and what it is told.
inline constexpr char kPowerButtonPath[] = "\\_SB.PWRB";
inline constexpr uint32_t kPowerButtonNotifyCode = 0x80;  // ACPI 6.5 table 5.166: pressed

}  // namespace ged

// `_EVT` calls `method` (an absolute AML path, no arguments) when `event` (one bit) is pending.
struct GedEventHandler {
  uint32_t event = 0;
  std::string method;
};

class Ged final : public core::BusDevice, public acpi::AmlDescribed {
 public:
  struct Stats {
    uint64_t events_raised = 0;  // RaiseEvent calls with a non-zero mask
    uint64_t esel_reads = 0;
    uint64_t ignored_accesses = 0;  // wrong size/offset reads, every write
  };

  // `irq` (may be null: no interrupt) is not owned and must outlive the device. `at` (window
  // and SPI) is only used for the AML; `handlers` are what _EVT calls. With `power_button`, the
  // GED also describes \_SB.PWRB and _EVT notifies it on ged::kEventPowerButton.
  Ged(core::IrqLine* irq, const core::DevicePlacement& at, std::vector<GedEventHandler> handlers,
      bool power_button = false);
  Ged(const Ged&) = delete;
  Ged& operator=(const Ged&) = delete;

  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

  // ORs `bits` into ESEL and pulses the interrupt. Does nothing for 0.
  void RaiseEvent(uint32_t bits);
  // The pending bitmap, without clearing it.
  uint32_t PendingEvents() const;
  Stats GetStats() const;

  // INVALID_ARGUMENT for a handler whose event is not exactly one bit, or a bit handled twice
  // (the power button handles ged::kEventPowerButton); FAILED_PRECONDITION without an SPI.
  absl::Status DescribeAml(acpi::AmlScope& sb) const override;

 private:
  core::IrqLine* const irq_;
  const core::DevicePlacement at_;
  const std::vector<GedEventHandler> handlers_;
  const bool power_button_;

  mutable absl::Mutex mu_;
  uint32_t pending_ ABSL_GUARDED_BY(mu_) = 0;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmmd::hw
