// The device table of one machine: one record per board row (board.h) that has a device — the
// row (name, window, SPI), the row's interrupt line wired to the VM, the device on the bus, and
// how it describes itself in the device tree and in the DSDT. The bus map, the DT device list
// and the DSDT device list are derived from it, in board order, so adding a device is its own
// folder under hw/ plus one row and one Add.
//
//   DeviceTable table(kBoardDevices, vm);
//   VMMD_ASSIGN_OR_RETURN(auto rtc, table.Add(board::kPl031, [](const DeviceSite& at) {
//     return std::make_shared<hw::Pl031>(at.irq, at.placement);
//   }));
//   VMMD_RETURN_IF_ERROR(table.MapOnto(bus));
//
// A device's interfaces say where it goes: a core::BusDevice is mapped on the bus at its row's
// window, a core::aarch64::FdtDescribed adds its node(s) to the board DT, an acpi::AmlDescribed
// its objects to the DSDT. Not thread-safe: built before any vCPU runs, read-only afterwards.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "acpi/aml_described.h"
#include "core/arch/aarch64/fdt_writer.h"
#include "core/bus/bus.h"
#include "core/bus/bus_device.h"
#include "core/bus/device_placement.h"
#include "core/bus/irq_line.h"
#include "core/hypervisor/hypervisor.h"
#include "vmmd/vmm/board.h"

namespace vmmd::vmm {

// What a device gets from its record: where it sits and its interrupt line.
struct DeviceSite {
  core::DevicePlacement placement;
  core::IrqLine* irq = nullptr;  // the row's SPI, wired to the VM; null when the row has none
};

class DeviceTable {
 public:
  struct Record {
    const BoardDevice* row = nullptr;
    std::unique_ptr<core::IrqLine> irq;  // declared first: outlives the device that drives it
    std::shared_ptr<core::BusDevice> mmio;
    std::shared_ptr<const core::aarch64::FdtDescribed> fdt;
    std::shared_ptr<const acpi::AmlDescribed> dsdt;
  };

  // `rows` (not owned, static) are the board's; `vm` (not owned, may be null in tests: no
  // interrupt lines then) receives the interrupt lines' levels.
  DeviceTable(absl::Span<const BoardDevice* const> rows, core::VmHandle* vm);
  DeviceTable(const DeviceTable&) = delete;
  DeviceTable& operator=(const DeviceTable&) = delete;

  // Creates the device of `row` with `make(site)` (which returns a std::shared_ptr) and records
  // it by its interfaces. INVALID_ARGUMENT for a row that is not one of the board's;
  // ALREADY_EXISTS for a row that has a device already; INTERNAL if `make` returns null.
  template <typename Make>
  auto Add(const BoardDevice& row, Make make)
      -> absl::StatusOr<std::invoke_result_t<Make, const DeviceSite&>> {
    using Ptr = std::invoke_result_t<Make, const DeviceSite&>;
    using Device = typename Ptr::element_type;
    absl::StatusOr<Record*> record = Open(row);
    if (!record.ok()) return record.status();
    Ptr device = make(DeviceSite{row.placement(), (*record)->irq.get()});
    if (device == nullptr) return Abandon(row);
    if constexpr (std::is_base_of_v<core::BusDevice, Device>) (*record)->mmio = device;
    if constexpr (std::is_base_of_v<core::aarch64::FdtDescribed, Device>) (*record)->fdt = device;
    if constexpr (std::is_base_of_v<acpi::AmlDescribed, Device>) (*record)->dsdt = device;
    return device;
  }
  // Describes `row`'s record in the DT with `node` instead of (or, without one, as) its device
  // (the two flash banks share one node). NOT_FOUND if the row has no record.
  absl::Status DescribeInFdt(const BoardDevice& row,
                             std::shared_ptr<const core::aarch64::FdtDescribed> node);

  // Every record's device on `bus` at its row's window (Bus::Insert's codes).
  absl::Status MapOnto(core::Bus& bus) const;
  std::vector<const core::aarch64::FdtDescribed*> FdtNodes() const;
  std::vector<const acpi::AmlDescribed*> DsdtDevices() const;
  // The record of `row`, or nullptr.
  const Record* Find(const BoardDevice& row) const;
  // Records in board order.
  std::vector<const Record*> Records() const;

 private:
  absl::StatusOr<Record*> Open(const BoardDevice& row);
  absl::Status Abandon(const BoardDevice& row);

  const std::vector<const BoardDevice*> rows_;
  core::VmHandle* const vm_;
  std::vector<std::unique_ptr<Record>> records_;  // by row index; null: no device
};

}  // namespace vmmd::vmm
