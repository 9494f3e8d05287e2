#include "vmmd/vmm/device_table.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_format.h"
#include "core/common/status_macros.h"
#include "vmmd/vmm/spi_irq_line.h"

namespace vmmd::vmm {

DeviceTable::DeviceTable(absl::Span<const BoardDevice* const> rows, core::VmHandle* vm)
    : rows_(rows.begin(), rows.end()), vm_(vm), records_(rows.size()) {}

absl::StatusOr<DeviceTable::Record*> DeviceTable::Open(const BoardDevice& row) {
  const auto it = std::find(rows_.begin(), rows_.end(), &row);
  if (it == rows_.end()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("device row %s is not one of the board's", std::string(row.name)));
  }
  std::unique_ptr<Record>& record = records_[it - rows_.begin()];
  if (record != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrFormat("board row %s already has a device", std::string(row.name)));
  }
  auto made = std::make_unique<Record>();
  made->row = &row;
  if (row.spi.has_value() && vm_ != nullptr) {
    if (row.irqfd) {
      VMMD_ASSIGN_OR_RETURN(EventFd fd, EventFd::Create());
      VMMD_RETURN_IF_ERROR(vm_->AttachIrqFd(*row.spi, fd.fd()));
      made->irq = std::make_unique<IrqFdLine>(std::move(fd));
    } else {
      made->irq = std::make_unique<SpiIrqLine>(vm_, *row.spi);
    }
  }
  record = std::move(made);
  return record.get();
}

absl::Status DeviceTable::Abandon(const BoardDevice& row) {
  const auto it = std::find(rows_.begin(), rows_.end(), &row);
  records_[it - rows_.begin()].reset();
  return absl::InternalError(
      absl::StrFormat("no device was made for board row %s", std::string(row.name)));
}

absl::Status DeviceTable::DescribeInFdt(const BoardDevice& row,
                                        std::shared_ptr<const core::aarch64::FdtDescribed> node) {
  const auto it = std::find(rows_.begin(), rows_.end(), &row);
  if (it == rows_.end() || records_[it - rows_.begin()] == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("board row %s has no device to describe", std::string(row.name)));
  }
  records_[it - rows_.begin()]->fdt = std::move(node);
  return absl::OkStatus();
}

std::vector<const DeviceTable::Record*> DeviceTable::Records() const {
  std::vector<const Record*> out;
  for (const std::unique_ptr<Record>& r : records_) {
    if (r != nullptr) out.push_back(r.get());
  }
  return out;
}

const DeviceTable::Record* DeviceTable::Find(const BoardDevice& row) const {
  const auto it = std::find(rows_.begin(), rows_.end(), &row);
  return it == rows_.end() ? nullptr : records_[it - rows_.begin()].get();
}

absl::Status DeviceTable::MapOnto(core::Bus& bus) const {
  for (const Record* r : Records()) {
    if (r->mmio == nullptr) continue;
    VMMD_RETURN_IF_ERROR(
        bus.Insert(r->row->base, r->row->size, r->mmio, std::string(r->row->name)));
  }
  return absl::OkStatus();
}

std::vector<const core::aarch64::FdtDescribed*> DeviceTable::FdtNodes() const {
  std::vector<const core::aarch64::FdtDescribed*> out;
  for (const Record* r : Records()) {
    if (r->fdt != nullptr) out.push_back(r->fdt.get());
  }
  return out;
}

std::vector<const acpi::AmlDescribed*> DeviceTable::DsdtDevices() const {
  std::vector<const acpi::AmlDescribed*> out;
  for (const Record* r : Records()) {
    if (r->dsdt != nullptr) out.push_back(r->dsdt.get());
  }
  return out;
}

}  // namespace vmmd::vmm
