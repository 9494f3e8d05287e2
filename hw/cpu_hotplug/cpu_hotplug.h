// The CPU-hotplug register block (cpu_hotplug_regs.h) and its DSDT description.
//
// MMIO: see cpu_hotplug_regs.h for the ABI. The device's own state is only the selector, the
// last command and the pending _OST event per vCPU; everything about a vCPU's lifecycle is read
// from (and every guest action forwarded to) the CpuHotplugBackend. Accesses larger than 4 bytes
// read 0 and are ignored; a read returns the bytes of the 12-byte register image it covers; a
// write acts on the register at its offset (0, 4, 5 or 8) with the value zero-extended, and is
// ignored at any other offset. Every ignored access is counted.
//
// AML (DescribeAml), under \_SB:
//   Device (PRES): _HID PNP0A06, _CRS Memory32Fixed (base, 12), Mutex CPLK, OperationRegion
//     PRST over the block, fields CPEN CINS CRMV CEJ0 CPRS (status/control bits), CCMD
//     (command), CSEL (selector), CDAT (command data).
//   Device (CPUS): _HID ACPI0010, _CID PNP0A05, methods CSTA (uid) -> 0xF / 0xD / 0,
//     CEJ0 (uid), COST (uid, event, status, buffer), CTFY (uid, value) -> Notify (Cxxx, value),
//     CSCN () -> for every vCPU with an event: Notify 1 (insert) or 3 (remove) and clear it;
//     and one Device (Cxxx) per possible vCPU (xxx = index in hex): _HID ACPI0007, _UID index,
//     _STA, _EJ0, _OST.
//
// Thread safety: Read/Write may run concurrently on several vCPU threads; each access is atomic
// (the device lock is held while the backend is called). After a write, with the lock
// released, the backend's FlushLog writes whatever the write gave it to log.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "acpi/aml_described.h"
#include "core/bus/bus_device.h"
#include "core/bus/device_placement.h"
#include "core/vcpu/cpu_hotplug_backend.h"
#include "hw/cpu_hotplug/cpu_hotplug_regs.h"

namespace vmmd::hw {

class CpuHotplug final : public core::BusDevice, public acpi::AmlDescribed {
 public:
  struct Stats {
    uint64_t ignored_reads = 0;   // wider than 4 bytes
    uint64_t ignored_writes = 0;  // wider than 4 bytes, no register at the offset, bad selector
    uint64_t ejects = 0;
    uint64_t ost_reports = 0;
  };

  // `backend` is not owned and must outlive the device. `at` (its window) is used for the AML
  // only.
  CpuHotplug(core::CpuHotplugBackend* backend, const core::DevicePlacement& at);
  CpuHotplug(const CpuHotplug&) = delete;
  CpuHotplug& operator=(const CpuHotplug&) = delete;

  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

  // INVALID_ARGUMENT if the block is not addressable by Memory32Fixed or there are no possible
  // vCPUs (or more than acpi::kMaxAcpiCpus).
  absl::Status DescribeAml(acpi::AmlScope& sb) const override;

  uint32_t possible_cpus() const { return possible_; }
  Stats GetStats() const;

 private:
  bool SelectorValid() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return selector_ < possible_; }
  void WriteLocked(uint64_t offset, absl::Span<const uint8_t> data)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteControl(uint8_t control) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteCommand(uint8_t command) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteData(uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  core::CpuHotplugBackend* const backend_;
  const uint64_t base_;
  const uint32_t possible_;

  mutable absl::Mutex mu_;
  uint32_t selector_ ABSL_GUARDED_BY(mu_) = 0;
  uint8_t command_ ABSL_GUARDED_BY(mu_) = cpu_hotplug::kCmdGetNextCpuWithEvent;
  std::vector<uint32_t> ost_event_ ABSL_GUARDED_BY(mu_);  // per vCPU, from OST_EVENT
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmmd::hw
